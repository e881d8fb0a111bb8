"""The toolkit's commands (`python3 -m adm.cli.<name>`, most through `npm run <name>`): argument parsing, messages,
exit codes and progress around the library modules in adm/, which never import this package."""
