// Public API of the transport between nodes: the peer API (HTTPS, mutual TLS) and heartbeats (UDP).
export { PeerServer, DEFAULT_BODY_LIMIT_BYTES, type HttpMethod, type PeerIdentity, type PeerServerOptions, type PeerServerStats, type RouteContext, type RouteHandler } from './peer-server.js';
export { PeerClient, type CallOptions, type PeerClientOptions } from './peer-client.js';
export { PeerError, PeerCallError, type PeerCallErrorCode, type PeerErrorBody, type PeerServerErrorCode } from './peer-error.js';
export { certificateNodeName, type TlsCredentials } from './tls-credentials.js';
export {
  HeartbeatSocket,
  DROP_REASONS,
  type DropReason,
  type Endpoint,
  type Heartbeat,
  type HeartbeatPeer,
  type HeartbeatSocketOptions,
  type NetworkStats,
  type PeerEndpoint,
  type SendResult,
} from './heartbeat.js';
export { decodeHeartbeat, deriveHeartbeatKey, encodeHeartbeat, HEARTBEAT_KEY_INFO, MAC_BYTES, MAX_DATAGRAM_BYTES, type HeartbeatPayload } from './heartbeat-codec.js';
export { admit, initialSeq, type Admission, type SeqWindow } from './replay-guard.js';
export { silentLog, type LogLevel, type TransportLog } from './log.js';
