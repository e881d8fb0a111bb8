"""`python -m adm.make_tiny_pack`: the command that public/models/tiny16/manifest.json names as its generator. That
manifest is shipped and tests/python/test_tiny_pack.py checks a fresh build against its bytes, so the name stays
runnable: it runs the command adm.cli.make_tiny_pack (by name, so this alias imports nothing from adm.cli)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("adm.cli.make_tiny_pack", run_name="__main__", alter_sys=True)
