import { z } from 'zod';
import { apiVersionSchema, dnsLabelSchema, idSchema, objectMetaSchema } from '../crds/common.js';

const portSchema = z.int().min(1).max(65535);

export const localRelaySchema = z
  .strictObject({
    name: dnsLabelSchema
      .optional()
      .describe('Name of the relay process, unique in the file (default relay-<index>, from 0).'),
    port: portSchema.describe('TCP port the relay listens on, on 127.0.0.1.'),
    metricsPort: portSchema
      .optional()
      .describe('TCP port of its /metrics, on 127.0.0.1 (default: port + 1000).'),
  })
  .describe('One relay process of the local stack.');

export const localRedisSchema = z
  .strictObject({
    port: portSchema
      .default(6390)
      .describe('TCP port of the redis-server the local stack starts (default 6390).'),
    appendfsync: z
      .enum(['always', 'everysec'])
      .default('always')
      .describe('AOF fsync policy of that redis-server (default always).'),
  })
  .describe('The redis-server the local stack starts, with its data under dataDir.');

export const seedMemberSchema = z
  .strictObject({
    identity: idSchema.describe('Id of the identity, unique in the domain.'),
    displayName: z.string().min(1).max(256).optional().describe('Name shown to other members.'),
    devices: z
      .array(idSchema)
      .default([])
      .describe('Ids of the identity’s devices, unique in the domain.'),
  })
  .describe('An identity (member) of the domain and its devices.');

export const seedWorkspaceSchema = z
  .strictObject({
    id: idSchema.describe('Id of the workspace, unique in the domain.'),
    members: z
      .array(idSchema)
      .min(1)
      .describe('Identity ids of the workspace members; each must be a member of the domain.'),
  })
  .describe('A workspace of the domain.');

export const seedDomainSchema = z
  .strictObject({
    domain: dnsLabelSchema.describe('Name of a Domain defined in the same file.'),
    members: z.array(seedMemberSchema).default([]).describe('Identities to create.'),
    workspaces: z.array(seedWorkspaceSchema).default([]).describe('Workspaces to create.'),
  })
  .describe('Members, devices and workspaces created in a domain when the stack starts.');

export const localStackSpecSchema = z
  .strictObject({
    dataDir: z
      .string()
      .min(1)
      .default('.grove/data')
      .describe(
        'Folder for Redis data and device keys; a relative path is resolved against the folder ' +
          'of the config file (default .grove/data).',
      ),
    relayPool: dnsLabelSchema.describe(
      'Name of the RelayPool (defined in the same file) the relay processes run as.',
    ),
    redis: localRedisSchema.prefault({}),
    relays: z
      .array(localRelaySchema)
      .min(1)
      .default([{ port: 8443 }, { port: 8444 }])
      .describe('Relay processes to start (default two, on ports 8443 and 8444).'),
    manager: z
      .strictObject({
        port: z
          .int()
          .min(1)
          .max(65535)
          .default(8080)
          .describe('TCP port of the Manager (admin web UI and API, enrollment) (default 8080).'),
        metricsPort: portSchema
          .optional()
          .describe('TCP port of its /metrics, on 127.0.0.1 (default: port + 1000).'),
      })
      .prefault({})
      .describe('The Manager process the local stack starts.'),
    seed: z
      .array(seedDomainSchema)
      .default([])
      .describe('Identities, devices and workspaces to create, per domain.'),
  })
  .describe('How `npm start` runs Grove on this machine.');

export const localStackSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal('LocalStack').describe('Always LocalStack.'),
    metadata: objectMetaSchema,
    spec: localStackSpecSchema,
  })
  .describe('The local stack: processes, ports, data folder and seed data.');

export type LocalRelay = z.infer<typeof localRelaySchema>;
export type SeedMember = z.infer<typeof seedMemberSchema>;
export type SeedWorkspace = z.infer<typeof seedWorkspaceSchema>;
export type SeedDomain = z.infer<typeof seedDomainSchema>;
export type LocalStackSpec = z.infer<typeof localStackSpecSchema>;
export type LocalStack = z.infer<typeof localStackSchema>;

/** A LocalStack after loading: every relay named, dataDir absolute. */
export type ResolvedLocalStack = Omit<LocalStack, 'spec'> & {
  spec: Omit<LocalStackSpec, 'relays' | 'manager'> & {
    relays: { name: string; port: number; metricsPort: number }[];
    manager: { port: number; metricsPort: number };
  };
};
