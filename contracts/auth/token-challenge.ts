/** What a device signs for `POST /v1/token`; shared by the Manager and the devices (docs/manager-api.md). */
export interface TokenChallengeFields {
  domain: string;
  deviceId: string;
  /** RFC 3339. */
  timestamp: string;
  /** 16–64 base64url characters, accepted once per device. */
  nonce: string;
}

/** The exact text a device signs (as UTF-8) to get a fresh relay token. */
export function tokenChallengeText(c: TokenChallengeFields): string {
  return `grove-token-v1\n${c.domain}\n${c.deviceId}\n${c.timestamp}\n${c.nonce}`;
}
