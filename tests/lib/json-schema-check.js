// A small JSON Schema checker for the tests (no npm packages): the subset the project's schemas
// use: type (string or list), properties, required, additionalProperties (boolean or schema),
// items, enum, const, minimum, minLength, pattern, $ref to "#/$defs/NAME", and "format":
// "date-time" (RFC 3339). Usage: node json-schema-check.js SCHEMA.json DOCUMENT.json
// Prints each violation with its JSON path; exits 0 when the document is valid, 1 otherwise.
'use strict';
const fs = require('fs');
const [schemaPath, docPath] = process.argv.slice(2);
if (!schemaPath || !docPath) {
  console.error('usage: node json-schema-check.js SCHEMA.json DOCUMENT.json');
  process.exit(2);
}
const root = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const doc = JSON.parse(fs.readFileSync(docPath, 'utf8'));
const errors = [];
const known = new Set(['$schema', '$id', '$defs', 'title', 'description', 'type', 'properties',
  'required', 'additionalProperties', 'items', 'enum', 'const', 'minimum', 'minLength', 'pattern',
  '$ref', 'format']);

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function check(schema, v, path) {
  for (const k of Object.keys(schema))
    if (!known.has(k)) throw new Error(`schema keyword ${k} at ${path} is not supported`);
  if (schema.$ref) {
    const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    if (!m || !root.$defs[m[1]]) throw new Error(`bad $ref ${schema.$ref}`);
    return check(root.$defs[m[1]], v, path);
  }
  if (schema.type) {
    const types = [].concat(schema.type), t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) {
      errors.push(`${path}: expected ${types.join(' or ')}, found ${t}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)))
    errors.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`);
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(v))
    errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (typeof v === 'number' && 'minimum' in schema && v < schema.minimum)
    errors.push(`${path}: ${v} is below ${schema.minimum}`);
  if (typeof v === 'string') {
    if ('minLength' in schema && v.length < schema.minLength)
      errors.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(v))
      errors.push(`${path}: does not match ${schema.pattern}`);
    if (schema.format === 'date-time' &&
        !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v))
      errors.push(`${path}: not an RFC 3339 date-time`);
  }
  if (Array.isArray(v) && schema.items)
    v.forEach((item, i) => check(schema.items, item, `${path}[${i}]`));
  if (typeOf(v) === 'object') {
    for (const k of schema.required || [])
      if (!(k in v)) errors.push(`${path}: missing ${k}`);
    const props = schema.properties || {};
    for (const [k, item] of Object.entries(v)) {
      if (props[k]) check(props[k], item, `${path}.${k}`);
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected key ${k}`);
      else if (typeof schema.additionalProperties === 'object')
        check(schema.additionalProperties, item, `${path}.${k}`);
    }
  }
}

check(root, doc, '$');
for (const e of errors) console.log(e);
process.exit(errors.length ? 1 : 0);
