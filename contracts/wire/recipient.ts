/**
 * A recipient reference as a sender writes it in a send frame's `to`: `device:ID`,
 * `identity:ID` or `workspace:ID` (frames.ts checks the same shape).
 */
export type RecipientRef =
  | { kind: 'device'; id: string }
  | { kind: 'identity'; id: string }
  | { kind: 'workspace'; id: string };

export function formatRecipient(ref: RecipientRef): string {
  return `${ref.kind}:${ref.id}`;
}

export function parseRecipient(ref: string): RecipientRef {
  const colon = ref.indexOf(':');
  const kind = ref.slice(0, colon);
  const id = ref.slice(colon + 1);
  if (
    colon < 0 ||
    id === '' ||
    (kind !== 'device' && kind !== 'identity' && kind !== 'workspace')
  ) {
    throw new Error(`recipient "${ref}" must be device:ID, identity:ID or workspace:ID`);
  }
  return { kind, id };
}
