/**
 * JSON Schema of the policy file (YAML or JSON, same shape). Shipped as schema/policy.schema.json too; a unit test
 * keeps the two equal.
 */
const port = { oneOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string', pattern: '^\\d{1,5}(-\\d{1,5})?$' }] };
const ports = { oneOf: [port, { type: 'array', items: port, minItems: 1 }] };
const address = { type: 'string', minLength: 2 };

export const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    action: { enum: ['allow', 'deny'], description: 'default: allow in a default-deny policy, deny in a default-allow one' },
    direction: { enum: ['outbound', 'inbound', 'any'] },
    proto: { enum: ['tcp', 'udp', 'any'] },
    remote: { oneOf: [address, { type: 'array', items: address, minItems: 1 }], description: 'address or CIDR, v4 or v6' },
    rport: ports,
    lport: ports,
    learned: { type: 'boolean' },
    comment: { type: 'string' },
  },
} as const;

const policyBody = {
  mode: { enum: ['default-deny', 'default-allow'] },
  rules: { type: 'array', items: ruleSchema },
  comment: { type: 'string' },
};

export const policySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://parasight.dev/schema/policy-1.json',
  title: 'parasight policy file',
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: { const: 1 },
    default: {
      type: 'object',
      additionalProperties: false,
      required: ['mode'],
      properties: policyBody,
      description: 'global fallback for processes no entry matches',
    },
    processes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['mode'],
        anyOf: [{ required: ['name'] }, { required: ['path'] }],
        properties: {
          name: { type: 'string', minLength: 1, description: 'process name (Linux comm, Windows image name), case-insensitive' },
          path: { type: 'string', minLength: 1, description: 'full executable path' },
          ...policyBody,
        },
      },
    },
  },
} as const;
