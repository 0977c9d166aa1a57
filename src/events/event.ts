/**
 * The event format (versioned): one JSON object per line. Field names are stable; schema/event.schema.json
 * describes them and ships in the package.
 */
import { randomUUID } from 'node:crypto';

export const EVENT_SCHEMA = 'parasight.event/1';

export type EventType = 'connection.allowed' | 'connection.abnormal' | 'process.parasitized';
export type Risk = 'none' | 'low' | 'medium' | 'high';

export interface EventFlow {
  proto: 'tcp' | 'udp' | 'other';
  local: string;
  lport: number;
  remote: string;
  rport: number;
  direction: 'outbound' | 'inbound';
}

export interface EventProcess {
  pid: number;
  name: string;
  path: string | null;
  /** ms since the epoch, or since guest boot (see create_time_base). */
  create_time: number;
  create_time_base: 'epoch' | 'boot';
  ppid: number;
}

export interface Evidence {
  kind: 'connection' | 'policy' | 'process';
  [field: string]: unknown;
}

export interface SensorEvent {
  schema: typeof EVENT_SCHEMA;
  id: string;
  /** ISO 8601, UTC. */
  ts: string;
  type: EventType;
  vm: string;
  flow: EventFlow | null;
  process: EventProcess | null;
  verdict: 'allow' | 'deny';
  risk: Risk;
  /** Id of the rule that decided (`<policy>#<index>` or `<policy>#mode`). */
  rule: string;
  reason: string;
  evidence: Evidence[];
  /** 1 for a full event; for a rate-limit summary, how many events it stands for. */
  count: number;
  /** How the owner was found: attributed, inbound-to-listener, closed-before-attribution, unattributed. */
  attribution: { outcome: string; reason: string | null; ms: number | null };
}

export function newEvent(fields: Omit<SensorEvent, 'schema' | 'id' | 'ts'>, when = Date.now()): SensorEvent {
  return { schema: EVENT_SCHEMA, id: randomUUID(), ts: new Date(when).toISOString(), ...fields };
}
