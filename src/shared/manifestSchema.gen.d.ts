// Types of the generated validator (tools/schema/compileManifestSchema.ts writes the .js beside this).

/** One of Ajv's errors (options allErrors and verbose: `schema` is the keyword's value, `data` the value checked). */
export interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  schema: unknown;
  data: unknown;
}

export interface ManifestValidate {
  (data: unknown): boolean;
  errors: SchemaError[] | null;
}

export const validate: ManifestValidate;
export const manifestSchema: Record<string, unknown>;
