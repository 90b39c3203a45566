/* hamod-repl: protocol framing, HMAC-SHA256 authentication, socket helpers. */
#include "common.h"

#include <openssl/evp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <libgen.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

const char *hr_op_names[OP__MAX] = {
	[OP_ACK] = "ack", [OP_OPEN] = "open", [OP_CREATE] = "create", [OP_WRITE] = "write",
	[OP_FSYNC] = "fsync", [OP_RELEASE] = "release", [OP_SETATTR] = "setattr", [OP_MKNOD] = "mknod",
	[OP_MKDIR] = "mkdir", [OP_UNLINK] = "unlink", [OP_RMDIR] = "rmdir", [OP_SYMLINK] = "symlink",
	[OP_RENAME] = "rename", [OP_LINK] = "link", [OP_SETXATTR] = "setxattr",
	[OP_REMOVEXATTR] = "removexattr", [OP_FALLOCATE] = "fallocate", [OP_FSYNCDIR] = "fsyncdir",
	[OP_PING] = "ping", [OP_STAT] = "stat", [OP_LIST] = "list", [OP_HASH] = "hash", [OP_RMTREE] = "rmtree",
	[OP_LOGREAD] = "logread", [OP_RESETLOG] = "resetlog",
};

/* ---- HMAC-SHA256 with precomputed inner/outer states (SHA-NI via OpenSSL's SHA256_*). ---- */

void hr_key_init(struct hr_key *k, const uint8_t *key, size_t len)
{
	uint8_t kb[64] = {0}, pad[64];
	if (len > 64) {
		SHA256(key, len, kb);
	} else {
		memcpy(kb, key, len);
	}
	for (int i = 0; i < 64; i++) pad[i] = kb[i] ^ 0x36;
	SHA256_Init(&k->inner);
	SHA256_Update(&k->inner, pad, 64);
	for (int i = 0; i < 64; i++) pad[i] = kb[i] ^ 0x5c;
	SHA256_Init(&k->outer);
	SHA256_Update(&k->outer, pad, 64);
	memset(kb, 0, sizeof kb);
	memset(pad, 0, sizeof pad);
}

void hr_hmac(const struct hr_key *k, const struct iovec *iov, int n, uint8_t out[32])
{
	SHA256_CTX c = k->inner;
	uint8_t ih[32];
	for (int i = 0; i < n; i++)
		if (iov[i].iov_len) SHA256_Update(&c, iov[i].iov_base, iov[i].iov_len);
	SHA256_Final(ih, &c);
	c = k->outer;
	SHA256_Update(&c, ih, 32);
	SHA256_Final(out, &c);
}

static void hmac_simple(const uint8_t *key, size_t klen, const char *label, const uint8_t *a, const uint8_t *b,
			uint32_t idx, uint8_t out[32])
{
	struct hr_key k;
	hr_key_init(&k, key, klen);
	struct iovec v[4] = {
		{(void *)label, strlen(label) + 1}, {(void *)a, 32}, {(void *)b, 32}, {&idx, sizeof idx}};
	hr_hmac(&k, v, 4, out);
}

int hr_read_keyfile(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, cap);
	close(fd);
	if (n < 0) return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
	if (n < 16) {
		errno = EINVAL;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

int hr_fill_random(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- I/O ---- */

int hr_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int hr_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Skips r bytes already transferred from the front of an iovec array. */
static void iov_advance(struct iovec **iovp, int *np, size_t r)
{
	struct iovec *iov = *iovp;
	int n = *np;
	while (n > 0 && r >= iov->iov_len) {
		r -= iov->iov_len;
		iov++;
		n--;
	}
	if (n > 0) {
		iov->iov_base = (char *)iov->iov_base + r;
		iov->iov_len -= r;
	}
	*iovp = iov;
	*np = n;
}

int hr_writev_full(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		iov_advance(&iov, &n, (size_t)r);
	}
	return 0;
}

uint64_t hr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hr_tune_socket(int fd)
{
	int one = 1, buf = 8 << 20;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
}

int hr_parse_hostport(const char *s, char *host, size_t hcap, int *port)
{
	const char *c = strrchr(s, ':');
	if (!c || (size_t)(c - s) >= hcap) return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = 0;
	char *end;
	long p = strtol(c + 1, &end, 10);
	if (*end || p < 0 || p > 65535) return -1;
	*port = (int)p;
	return 0;
}

/* ---- Handshake: mutual proof of the cluster secret, fresh per-connection session keys. ----
 * C->S: "HRP1" | conn_idx u32 | session u64 | cn[32]
 * S->C: "HRP1" | sn[32] | HMAC(K, "srv", cn, sn, idx)
 * C->S: HMAC(K, "cli", cn, sn, idx)
 * keys: c2s = HMAC(K, "c2s", cn, sn, idx), s2c = HMAC(K, "s2c", cn, sn, idx). */

struct hello_c {
	char magic[4];
	uint32_t idx;
	uint64_t session;
	uint8_t cn[32];
} __attribute__((packed));
struct hello_s {
	char magic[4];
	uint8_t sn[32];
	uint8_t mac[32];
} __attribute__((packed));

static int ct_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++) d |= a[i] ^ b[i];
	return d == 0;
}

static void derive(struct hr_chan *c, const uint8_t *secret, size_t slen, const uint8_t *cn, const uint8_t *sn,
		   uint32_t idx, int is_client)
{
	uint8_t k1[32], k2[32];
	hmac_simple(secret, slen, "c2s", cn, sn, idx, k1);
	hmac_simple(secret, slen, "s2c", cn, sn, idx, k2);
	memcpy(is_client ? c->ksend : c->krecv, k1, 32);
	memcpy(is_client ? c->krecv : c->ksend, k2, 32);
	if (!c->csend) c->csend = EVP_CIPHER_CTX_new();
	if (!c->crecv) c->crecv = EVP_CIPHER_CTX_new();
	c->nsend = c->nrecv = 0;
	memset(k1, 0, 32);
	memset(k2, 0, 32);
}

/* Frame authenticator: ChaCha20-Poly1305 (RFC 8439) with an empty plaintext and the frame as
 * additional data, i.e. Poly1305 under a one-time key derived from the per-direction session key
 * and the frame counter (the nonce; never reused: one key per direction and connection). */
static int frame_tag(void *ctxp, const uint8_t key[32], uint64_t ctr, const struct iovec *iov, int n,
		     uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = ctxp;
	uint8_t nonce[12] = {0}, dummy[16];
	int outl;
	memcpy(nonce + 4, &ctr, 8);
	if (EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce) != 1) return -1;
	for (int i = 0; i < n; i++)
		if (iov[i].iov_len && EVP_EncryptUpdate(ctx, NULL, &outl, iov[i].iov_base, (int)iov[i].iov_len) != 1)
			return -1;
	if (EVP_EncryptFinal_ex(ctx, dummy, &outl) != 1) return -1;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) return -1;
	return 0;
}

int hr_handshake_client(struct hr_chan *c, int fd, const uint8_t *secret, size_t slen, uint32_t idx,
			uint64_t session)
{
	struct hello_c hc = {.idx = idx, .session = session};
	struct hello_s hs;
	uint8_t mac[32];
	memcpy(hc.magic, HR_MAGIC, 4);
	if (hr_fill_random(hc.cn, 32) < 0) return -1;
	if (hr_write_full(fd, &hc, sizeof hc) < 0) return -1;
	if (hr_read_full(fd, &hs, sizeof hs) < 0) return -1;
	hmac_simple(secret, slen, "srv", hc.cn, hs.sn, idx, mac);
	if (memcmp(hs.magic, HR_MAGIC, 4) || !ct_eq(mac, hs.mac, 32)) {
		errno = EACCES;
		return -1;
	}
	hmac_simple(secret, slen, "cli", hc.cn, hs.sn, idx, mac);
	if (hr_write_full(fd, mac, 32) < 0) return -1;
	c->fd = fd;
	derive(c, secret, slen, hc.cn, hs.sn, idx, 1);
	return 0;
}

int hr_handshake_server(struct hr_chan *c, int fd, const uint8_t *secret, size_t slen, uint32_t *idx,
			uint64_t *session)
{
	struct hello_c hc;
	struct hello_s hs;
	uint8_t mac[32], want[32];
	if (hr_read_full(fd, &hc, sizeof hc) < 0) return -1;
	if (memcmp(hc.magic, HR_MAGIC, 4)) {
		errno = EPROTO;
		return -1;
	}
	memcpy(hs.magic, HR_MAGIC, 4);
	if (hr_fill_random(hs.sn, 32) < 0) return -1;
	hmac_simple(secret, slen, "srv", hc.cn, hs.sn, hc.idx, hs.mac);
	if (hr_write_full(fd, &hs, sizeof hs) < 0) return -1;
	if (hr_read_full(fd, mac, 32) < 0) return -1;
	hmac_simple(secret, slen, "cli", hc.cn, hs.sn, hc.idx, want);
	if (!ct_eq(mac, want, 32)) {
		errno = EACCES;
		return -1;
	}
	c->fd = fd;
	derive(c, secret, slen, hc.cn, hs.sn, hc.idx, 0);
	*idx = hc.idx;
	*session = hc.session;
	return 0;
}

/* ---- Frames: hdr | payload | TAG16, TAG = Poly1305 tag of (hdr | payload) under the frame counter ---- */

int hr_send(struct hr_chan *c, struct hr_hdr *h, const struct iovec *pay, int npay)
{
	struct iovec v[8];
	uint8_t tag[16];
	size_t plen = 0;
	if (npay > 5) {
		errno = EINVAL;
		return -1;
	}
	v[0].iov_base = h;
	v[0].iov_len = sizeof *h;
	for (int i = 0; i < npay; i++) {
		v[1 + i] = pay[i];
		plen += pay[i].iov_len;
	}
	h->paylen = (uint32_t)plen;
	if (frame_tag(c->csend, c->ksend, c->nsend++, v, 1 + npay, tag) < 0) {
		errno = EIO;
		return -1;
	}
	v[1 + npay].iov_base = tag;
	v[1 + npay].iov_len = HR_MAC_LEN;
	return hr_writev_full(c->fd, v, 2 + npay);
}

/* Reads exactly the iovecs' bytes of a frame that has started to arrive (its sender is writing
 * it now): non-blocking reads, and when the socket is momentarily empty a short busy poll before
 * falling back to a blocking read. A large frame comes in several TCP segments; sleeping between
 * them costs a wakeup (an IPI, a VM exit here) each, polling for the next few microseconds does
 * not. One readv for payload + tag. */
#define HR_MIDFRAME_SPIN_NS 30000u
static int read_rest(int fd, struct iovec *iov, int n)
{
	uint64_t spin_end = 0;
	while (n > 0) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t r = recvmsg(fd, &m, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			uint64_t t = hr_now_ns();
			if (!spin_end) spin_end = t + HR_MIDFRAME_SPIN_NS;
			if (t < spin_end) {
				hr_cpu_relax();
				continue;
			}
			r = recvmsg(fd, &m, 0); /* blocking (SO_RCVTIMEO applies) */
		}
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		spin_end = 0;
		iov_advance(&iov, &n, (size_t)r);
	}
	return 0;
}

int hr_recv(struct hr_chan *c, struct hr_hdr *h, char *buf, size_t cap)
{
	uint8_t mac[HR_MAC_LEN], want[16];
	if (hr_read_full(c->fd, h, sizeof *h) < 0) return -1;
	if (h->paylen > cap || h->paylen > HR_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	struct iovec rv[2] = {{buf, h->paylen}, {mac, HR_MAC_LEN}};
	if (h->paylen ? read_rest(c->fd, rv, 2) < 0 : read_rest(c->fd, rv + 1, 1) < 0) return -1;
	struct iovec v[2] = {{h, sizeof *h}, {buf, h->paylen}};
	if (frame_tag(c->crecv, c->krecv, c->nrecv++, v, 2, want) < 0 || !ct_eq(mac, want, HR_MAC_LEN)) {
		errno = EBADMSG;
		return -1;
	}
	if ((uint64_t)h->p1len + h->p2len > h->paylen) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

void hr_chan_free(struct hr_chan *c)
{
	if (c->csend) EVP_CIPHER_CTX_free(c->csend);
	if (c->crecv) EVP_CIPHER_CTX_free(c->crecv);
	c->csend = c->crecv = NULL;
	memset(c->ksend, 0, sizeof c->ksend);
	memset(c->krecv, 0, sizeof c->krecv);
}

int hr_spin_readable(int fd, int us)
{
	if (us <= 0) return 0;
	uint64_t end = hr_now_ns() + (uint64_t)us * 1000u;
	char b;
	do {
		ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r > 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || r == 0) return 1;
		hr_cpu_relax();
	} while (hr_now_ns() < end);
	return 0;
}

/* ---- directory entries (reintegration) ---- */

int hr_ent_encode(char *buf, size_t cap, int dfd, const char *name, const char *outname)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) < 0) return -errno;
	struct hr_ent_hdr h = {
		.mode = st.st_mode, .uid = st.st_uid, .gid = st.st_gid, .nlink = (uint32_t)st.st_nlink,
		.size = (uint64_t)st.st_size, .rdev = st.st_rdev, .ino = st.st_ino,
		.atime = st.st_atim.tv_sec, .mtime = st.st_mtim.tv_sec,
		.atns = (uint32_t)st.st_atim.tv_nsec, .mtns = (uint32_t)st.st_mtim.tv_nsec,
	};
	size_t nl = strlen(outname) + 1, pos = sizeof h;
	h.namelen = (uint32_t)nl;
	if (pos + nl > cap) return 0;
	memcpy(buf + pos, outname, nl);
	pos += nl;
	if (S_ISLNK(st.st_mode)) {
		if (pos + 4097 > cap) return 0;
		ssize_t n = readlinkat(dfd, name, buf + pos, 4096);
		if (n < 0) return -errno;
		buf[pos + (size_t)n] = 0;
		h.linklen = (uint32_t)n + 1;
		pos += (size_t)n + 1;
	}
	char proc[64 + 4096], names[16384];
	if (*name) snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dfd, name);
	else snprintf(proc, sizeof proc, "/proc/self/fd/%d", dfd);
	ssize_t ln = (*name ? llistxattr : listxattr)(proc, names, sizeof names);
	size_t x0 = pos;
	for (ssize_t i = 0; ln > 0 && i < ln;) {
		const char *xn = names + i;
		size_t xl = strlen(xn) + 1;
		i += (ssize_t)xl;
		if (pos + xl + 4 > cap) return 0;
		ssize_t vl = (*name ? lgetxattr : getxattr)(proc, xn, buf + pos + xl + 4, cap - pos - xl - 4);
		if (vl < 0) {
			if (errno == ERANGE) return 0;
			continue; /* vanished meanwhile */
		}
		memcpy(buf + pos, xn, xl);
		uint32_t v32 = (uint32_t)vl;
		memcpy(buf + pos + xl, &v32, 4);
		pos += xl + 4 + (size_t)vl;
	}
	h.xlen = (uint32_t)(pos - x0);
	memcpy(buf, &h, sizeof h);
	return (int)pos;
}

int hr_ent_decode(const char *buf, size_t len, size_t *pos, struct hr_ent *e)
{
	size_t p = *pos;
	if (p + sizeof e->h > len) return -1;
	memcpy(&e->h, buf + p, sizeof e->h);
	p += sizeof e->h;
	if (e->h.namelen == 0 || (uint64_t)p + e->h.namelen + e->h.linklen + e->h.xlen > len) return -1;
	e->name = buf + p;
	if (e->name[e->h.namelen - 1]) return -1;
	p += e->h.namelen;
	e->link = e->h.linklen ? buf + p : NULL;
	if (e->link && e->link[e->h.linklen - 1]) return -1;
	p += e->h.linklen;
	e->x = buf + p;
	p += e->h.xlen;
	*pos = p;
	return 0;
}

const char *hr_ent_xattr(const struct hr_ent *e, const char *name, uint32_t *vlen)
{
	size_t i = 0;
	while (i < e->h.xlen) {
		const char *xn = e->x + i;
		size_t xl = strnlen(xn, e->h.xlen - i) + 1;
		uint32_t vl;
		if (i + xl + 4 > e->h.xlen) return NULL;
		memcpy(&vl, e->x + i + xl, 4);
		if (i + xl + 4 + vl > e->h.xlen) return NULL;
		if (strcmp(xn, name) == 0) {
			*vlen = vl;
			return e->x + i + xl + 4;
		}
		i += xl + 4 + vl;
	}
	return NULL;
}

int hr_hash_zones(int fd, uint64_t off, uint64_t len, uint32_t zone, uint8_t *out, char *buf)
{
	for (uint64_t z = 0; z * zone < len; z++) {
		size_t want = (size_t)(len - z * zone < zone ? len - z * zone : zone), got = 0;
		while (got < want) {
			ssize_t n = pread(fd, buf + got, want - got, (off_t)(off + z * zone + got));
			if (n < 0) {
				if (errno == EINTR) continue;
				return -errno;
			}
			if (n == 0) break;
			got += (size_t)n;
		}
		SHA256((const unsigned char *)buf, got, out + 32 * z);
	}
	return 0;
}

/* ---- include / exclude ---- */

static char **g_inc, **g_exc;
static int g_ninc, g_nexc;

void hr_filter_add(int include, const char *pattern)
{
	char ***a = include ? &g_inc : &g_exc;
	int *n = include ? &g_ninc : &g_nexc;
	*a = realloc(*a, sizeof(char *) * (size_t)(*n + 1));
	(*a)[(*n)++] = strdup(pattern);
}

int hr_filter_active(void)
{
	return g_ninc + g_nexc > 0;
}

static int pat_match(const char *pat, const char *path)
{
	if (strchr(pat, '/')) return fnmatch(pat, path, FNM_PATHNAME) == 0;
	const char *b = strrchr(path, '/');
	return fnmatch(pat, b ? b + 1 : path, 0) == 0;
}

static int any_match(char **pats, int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (pat_match(pats[i], path)) return 1;
	return 0;
}

/* 1 when path or one of its ancestors matches one of pats. */
static int self_or_ancestor(char **pats, int n, const char *path)
{
	if (!n) return 0;
	char tmp[8192];
	size_t l = strlen(path);
	if (l >= sizeof tmp) return 0;
	memcpy(tmp, path, l + 1);
	for (size_t i = 0; i < l; i++)
		if (tmp[i] == '/') {
			tmp[i] = 0;
			int m = any_match(pats, n, tmp);
			tmp[i] = '/';
			if (m) return 1;
		}
	return any_match(pats, n, tmp);
}

int hr_path_excluded(const char *path, int isdir)
{
	if (!*path || (!g_ninc && !g_nexc)) return 0;
	if (self_or_ancestor(g_exc, g_nexc, path)) return 1;
	if (!g_ninc || isdir) return 0;
	return !self_or_ancestor(g_inc, g_ninc, path);
}

/* ---- change log reset ---- */

int hr_file_replace(const char *path, const char *data, size_t len, int *fdp)
{
	char tmp[4200], dirb[4200];
	if (strlen(path) > 4000) return -ENAMETOOLONG;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	/* O_APPEND: the fd handed back goes on appending to the new file */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) return -errno;
	size_t done = 0;
	int e = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	if (!e && fsync(fd) < 0) e = errno;
	if (!e && rename(tmp, path) < 0) e = errno;
	if (e) {
		close(fd);
		unlink(tmp);
		return -e;
	}
	snprintf(dirb, sizeof dirb, "%s", path);
	int dfd = open(dirname(dirb), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (fdp) *fdp = fd;
	else close(fd);
	return 0;
}

int hr_log_reset(const char *path, const char *gen, const char *extra, int *fdp)
{
	char line[512];
	int n = snprintf(line, sizeof line, "BASE %s\n%s", gen, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof line) return -EINVAL;
	return hr_file_replace(path, line, (size_t)n, fdp);
}

int hr_log_trim_tail(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) return errno == ENOENT ? 0 : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	off_t end = st.st_size, keep = 0;
	char b[4096];
	for (off_t pos = end; pos > 0 && !keep;) {
		size_t n = pos >= (off_t)sizeof b ? sizeof b : (size_t)pos;
		pos -= (off_t)n;
		if (pread(fd, b, n, pos) != (ssize_t)n) {
			close(fd);
			return -EIO; /* never cut what could not be read */
		}
		for (size_t i = n; i > 0; i--)
			if (b[i - 1] == '\n') {
				keep = pos + (off_t)i;
				break;
			}
	}
	int r = 0;
	if (keep < end) {
		fprintf(stderr, "hamod-repl: change log %s: %lld bytes after its last complete line dropped (torn by a crash)\n",
			path, (long long)(end - keep));
		r = ftruncate(fd, keep) < 0 || fsync(fd) < 0 ? -errno : 0;
	}
	close(fd);
	return r;
}

void hr_boot_id(char *out, size_t cap)
{
	const char *env = getenv("HAMOD_REPL_BOOT_ID"); /* tests: a reboot without rebooting */
	snprintf(out, cap, "unknown");
	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return;
	}
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return;
	char b[80];
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n > 0 ? n : 0] = 0;
	for (char *c = b; *c; c++)
		if (*c == '\n' || *c == ' ') *c = 0;
	if (*b) snprintf(out, cap, "%s", b);
}

int hr_log_lost_session(const char *path, const char *boot, char *last, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	struct stat st;
	char *b = NULL;
	int open_ = 0;
	snprintf(last, cap, "%s", "");
	if (fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size + 1))) {
		ssize_t n = pread(fd, b, (size_t)st.st_size, 0);
		b[n > 0 ? n : 0] = 0;
		for (char *l = b; *l;) {
			char *e = strchr(l, '\n');
			if (!e) break;
			*e = 0;
			if (!strncmp(l, "RECV ", 5)) {
				char *sp = strchr(l + 5, ' ');
				snprintf(last, cap, "%s", sp ? sp + 1 : "");
				open_ = 1;
			} else if (!strncmp(l, "STOP ", 5) || !strncmp(l, "LOST ", 5)) {
				open_ = 0;
			}
			l = e + 1;
		}
	}
	free(b);
	close(fd);
	return open_ && strcmp(last, boot) != 0;
}
