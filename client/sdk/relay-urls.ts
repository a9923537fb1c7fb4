/** The WebSocket and long-poll endpoints of a relay given as ws(s):// or http(s)://. */
export function relayEndpoints(relay: string): { websocket: string; http: string } {
  let url: URL;
  try {
    url = new URL(relay);
  } catch {
    throw new Error(`relay URL "${relay}" is not a URL (expected ws://host:port or https://host)`);
  }
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new Error(`relay URL "${relay}" must use ws, wss, http or https`);
  }
  const base = `${url.host}${url.pathname.replace(/\/+$/, '')}`;
  return {
    websocket: `${secure ? 'wss' : 'ws'}://${base}/v1/connect`,
    http: `${secure ? 'https' : 'http'}://${base}`,
  };
}

export function parseRelayList(value: string): string[] {
  const relays = value
    .split(',')
    .map((relay) => relay.trim())
    .filter((relay) => relay !== '');
  if (relays.length === 0) throw new Error('no relay URL given');
  for (const relay of relays) relayEndpoints(relay);
  return relays;
}
