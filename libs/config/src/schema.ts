import { ConfigError } from './config-error';

export type FieldSchema =
  | { type: 'string'; required?: boolean; pattern?: RegExp; enum?: readonly string[] }
  | { type: 'integer'; required?: boolean; min?: number; max?: number }
  | { type: 'boolean'; required?: boolean }
  | { type: 'stringList'; required?: boolean }
  | { type: 'object'; required?: boolean; schema: ObjectSchema };

export type ObjectSchema = Record<string, FieldSchema>;

/** Rejects unknown keys, missing keys and wrong types, naming the key's full path. */
export function validateObject(value: Record<string, unknown>, schema: ObjectSchema, path: string): void {
  for (const key of Object.keys(value)) {
    if (!(key in schema)) throw new ConfigError(`${path}.${key}: unknown key`);
  }
  for (const [key, field] of Object.entries(schema)) {
    const v = value[key];
    const at = `${path}.${key}`;
    if (v === undefined || v === null) {
      if (field.required) throw new ConfigError(`${at}: missing`);
      continue;
    }
    switch (field.type) {
      case 'string':
        if (typeof v !== 'string' || v.length === 0)
          throw new ConfigError(`${at}: must be a non-empty string`);
        if (field.pattern && !field.pattern.test(v))
          throw new ConfigError(`${at}: must match ${field.pattern}`);
        if (field.enum && !field.enum.includes(v))
          throw new ConfigError(`${at}: must be one of ${field.enum.join(', ')}`);
        break;
      case 'integer':
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(`${at}: must be an integer`);
        if (field.min !== undefined && v < field.min)
          throw new ConfigError(`${at}: must be at least ${field.min}`);
        if (field.max !== undefined && v > field.max)
          throw new ConfigError(`${at}: must be at most ${field.max}`);
        break;
      case 'boolean':
        if (typeof v !== 'boolean') throw new ConfigError(`${at}: must be true or false`);
        break;
      case 'stringList':
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0))
          throw new ConfigError(`${at}: must be a list of non-empty strings`);
        break;
      case 'object':
        if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${at}: must be a mapping`);
        validateObject(v as Record<string, unknown>, field.schema, at);
        break;
    }
  }
}
