// Public API of the cluster PKI: CA, node certificates, cluster secret, node credentials.
export { PkiError, type PkiErrorCode } from './pki-error.js';
export { PKI_FILES } from './files.js';
export { isValidNodeName } from './names.js';
export { createClusterCa, CA_VALIDITY_YEARS, type ClusterCa, type ClusterCaOptions } from './ca.js';
export { issueNodeCertificate, NODE_VALIDITY_YEARS, type IssuedNodeCertificate, type NodeCertificateRequest } from './node-cert.js';
export { createClusterSecret, installClusterSecret, readClusterSecret, CLUSTER_SECRET_BYTES } from './secret.js';
export { loadNodeCredentials, NodeCredentials, type LoadCredentialsOptions } from './credentials.js';
