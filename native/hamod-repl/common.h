/* hamod-repl: synchronous byte-level replication of a directory (primary -> secondary).
 * Shared protocol, crypto and socket helpers. See README.md beside this file. */
#ifndef HAMOD_REPL_COMMON_H
#define HAMOD_REPL_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/uio.h>
#include <openssl/sha.h>

#define HR_MAGIC "HRP1"
#define HR_MAC_LEN 16               /* Poly1305 tag (ChaCha20-Poly1305 with the frame as AAD) */
#define HR_MAX_PAYLOAD (2u << 20)   /* 1 MiB max_write + paths, with room */
#define HR_MAX_CONNS 8

/* Operations (primary -> secondary); every request gets exactly one ACK (same seq). */
enum hr_op {
	OP_ACK = 1,
	OP_OPEN,        /* p1=path, mode=open flags, fh=id */
	OP_CREATE,      /* p1=path, mode=file mode, len=open flags, uid/gid, fh=id */
	OP_WRITE,       /* fh, off, data */
	OP_FSYNC,       /* fh (or p1 path when fh==0), flags&F_DATASYNC */
	OP_RELEASE,     /* fh */
	OP_SETATTR,     /* fh or p1; len=valid mask (HR_SA_*), mode, uid, gid, off=size, t1/t2 */
	OP_MKNOD,       /* p1, mode, rdev, uid, gid */
	OP_MKDIR,       /* p1, mode, uid, gid */
	OP_UNLINK,      /* p1 */
	OP_RMDIR,       /* p1 */
	OP_SYMLINK,     /* p1=new path, p2=target, uid, gid */
	OP_RENAME,      /* p1=old, p2=new, len=flags */
	OP_LINK,        /* p1=existing, p2=new */
	OP_SETXATTR,    /* p1=path, p2=name, data=value, len=flags */
	OP_REMOVEXATTR, /* p1=path, p2=name */
	OP_FALLOCATE,   /* fh, mode, off, len */
	OP_FSYNCDIR,    /* p1 */
	OP_PING,
	OP__MAX
};

#define F_DATASYNC 1u

/* setattr valid mask on the wire */
#define HR_SA_MODE 1u
#define HR_SA_UID 2u
#define HR_SA_GID 4u
#define HR_SA_SIZE 8u
#define HR_SA_ATIME 16u
#define HR_SA_MTIME 32u

/* Little-endian host order (x86_64/aarch64 both): a foundation, not a portable wire format yet. */
struct hr_hdr {
	uint32_t paylen;  /* bytes after the header, MAC excluded */
	uint16_t op;
	uint16_t flags;
	uint64_t seq;     /* request id; an ACK carries the request's */
	uint64_t fh;
	int64_t off;
	uint64_t len;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	int32_t res;      /* ACK: 0 or -errno */
	uint64_t rdev;
	int64_t t1s, t2s; /* atime, mtime */
	uint32_t t1ns, t2ns;
	uint32_t p1len;   /* payload = p1 (NUL included) | p2 (NUL included) | data */
	uint32_t p2len;
} __attribute__((packed));

struct hr_key {
	SHA256_CTX inner, outer;
};

void hr_key_init(struct hr_key *k, const uint8_t *key, size_t len);
void hr_hmac(const struct hr_key *k, const struct iovec *iov, int n, uint8_t out[32]);
int hr_read_keyfile(const char *path, uint8_t *buf, size_t cap, size_t *len);
int hr_fill_random(void *buf, size_t n);

/* A framed, authenticated connection. Each direction has its own session key and an implicit
 * frame counter mixed into the MAC (replay and reordering are detected). */
struct hr_chan {
	int fd;
	uint8_t ksend[32], krecv[32];
	void *csend, *crecv; /* EVP_CIPHER_CTX: used by one thread at a time per direction */
	uint64_t nsend, nrecv;
};

int hr_handshake_client(struct hr_chan *c, int fd, const uint8_t *secret, size_t slen, uint32_t conn_idx,
			uint64_t session);
int hr_handshake_server(struct hr_chan *c, int fd, const uint8_t *secret, size_t slen, uint32_t *conn_idx,
			uint64_t *session);
/* Sends header + payload iovecs + MAC. Caller serialises senders on one channel. */
int hr_send(struct hr_chan *c, struct hr_hdr *h, const struct iovec *pay, int npay);
/* Receives one frame; payload into buf (cap bytes). Returns 0, or -1 (EOF/IO/auth error, errno set). */
int hr_recv(struct hr_chan *c, struct hr_hdr *h, char *buf, size_t cap);

void hr_chan_free(struct hr_chan *c);
int hr_read_full(int fd, void *buf, size_t n);
int hr_write_full(int fd, const void *buf, size_t n);
int hr_writev_full(int fd, struct iovec *iov, int n);
uint64_t hr_now_ns(void);
int hr_parse_hostport(const char *s, char *host, size_t hcap, int *port);
void hr_tune_socket(int fd);
/* Polls fd for readable data for up to us microseconds without sleeping; 1 when data is there. */
int hr_spin_readable(int fd, int us);

static inline void hr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

extern const char *hr_op_names[OP__MAX];

int primary_main(int argc, char **argv);
int secondary_main(int argc, char **argv);

#endif
