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
#define HR_MAX_LISTEN 8            /* secondary: --listen addresses (networks) */
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
	/* reintegration (primary's resync thread -> secondary); replies carry a payload */
	OP_STAT,        /* p1 -> one entry (hr_ent encoding) */
	OP_LIST,        /* p1=directory, off=index of the first entry -> entries; ACK off=next index, flags&1=more */
	OP_HASH,        /* fh (or p1), off, len, mode=zone bytes -> 32-byte SHA-256 per zone (short zone at EOF) */
	OP_RMTREE,      /* p1: removes the entry, recursively for a directory (ENOENT = 0) */
	OP_LOGREAD,     /* off -> bytes of the secondary's change log from off; ACK len = file size (0 = none) */
	OP_RESETLOG,    /* p1=gen: syncfs, then the secondary's change log becomes "BASE gen" (durably) */
	OP__MAX
};

#define F_DATASYNC 1u
#define F_MORE 1u /* ACK of OP_LIST: more entries follow */

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

/* Directory entry as exchanged by OP_STAT / OP_LIST (and built locally by the primary):
 * struct hr_ent_hdr | name NUL | symlink target NUL (linklen 0: none) | xattrs
 * (xlen bytes: repeated name NUL, u32 value length, value). */
struct hr_ent_hdr {
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev, ino;
	int64_t atime, mtime;
	uint32_t atns, mtns;
	uint32_t namelen, linklen, xlen; /* lengths include the NULs */
} __attribute__((packed));

struct hr_ent {
	struct hr_ent_hdr h;
	const char *name, *link, *x;
};

/* Encodes the entry `name` of directory dfd (name "" = dfd itself) under the name `outname` into
 * buf. Returns the bytes used, 0 when it does not fit in cap, -errno when it cannot be read. */
int hr_ent_encode(char *buf, size_t cap, int dfd, const char *name, const char *outname);
/* Decodes the entry at *pos; 0 or -1 (malformed). */
int hr_ent_decode(const char *buf, size_t len, size_t *pos, struct hr_ent *e);
/* Looks up xattr `name` in an entry's blob: value pointer and length, or NULL. */
const char *hr_ent_xattr(const struct hr_ent *e, const char *name, uint32_t *vlen);
/* SHA-256 of each zone of [off, off+len) of fd (the last zones short or empty at EOF) into out
 * (32 bytes per zone). buf: scratch of at least zone bytes. Returns 0 or -errno. */
int hr_hash_zones(int fd, uint64_t off, uint64_t len, uint32_t zone, uint8_t *out, char *buf);

/* Include/exclude globs (--include/--exclude; fnmatch FNM_PATHNAME on the path relative to the
 * directory; a pattern without '/' matches the name at any depth; an excluded directory excludes
 * its subtree; with includes, a non-directory is replicated only when it or an ancestor matches one;
 * directories are kept unless excluded). */
void hr_filter_add(int include, const char *pattern);
int hr_filter_active(void);
int hr_path_excluded(const char *path, int isdir);

/* Replaces the change log at path by "BASE gen\n" + extra, durably (temp file, fsync, rename,
 * fsync of the directory). Returns 0 or -errno. */
int hr_log_reset(const char *path, const char *gen, const char *extra, int *fdp);
/* This machine's boot id (HAMOD_REPL_BOOT_ID overrides it, for tests). */
void hr_boot_id(char *out, size_t cap);
/* The log's last receiving session (RECV <time> <boot>) never stopped (no STOP / LOST after it)
 * and was of another boot than `boot`: its machine went down while it received. Its boot in last. */
int hr_log_lost_session(const char *path, const char *boot, char *last, size_t cap);
/* Replaces the file at path by data, durably (same steps). Returns 0 or -errno; with fdp, *fdp is an
 * O_APPEND fd of the new file (no window where appends could go to the old one). */
int hr_file_replace(const char *path, const char *data, size_t len, int *fdp);
/* A crash can leave a torn last line (or zeros) after the last newline: cut it off, before anything
 * is appended after it. 0 or -errno. */
int hr_log_trim_tail(const char *path);

int primary_main(int argc, char **argv);
int secondary_main(int argc, char **argv);

#endif
