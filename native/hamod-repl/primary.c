/* hamod-repl primary: a FUSE (low-level API, multi-threaded) passthrough file system mounted over
 * --dir itself. The real tree is reached only through the directory fd opened before the mount,
 * with *at() syscalls (never through the mounted path: that would deadlock the daemon).
 *
 * Every mutating operation is sent to the secondary BEFORE it is applied locally, then applied
 * locally, then the daemon waits for the secondary's ACK: the two applications run in parallel and
 * the application gets its answer only once both are done ("applied" = the secondary's syscall
 * returned; for files opened O_SYNC/O_DSYNC the secondary's fd has the same flag, so its write is
 * durable before the ACK; an fsync is durable on both before it returns).
 *
 * Ordering: namespace operations (create, mkdir, unlink, rename, link, symlink, open for write,
 * setattr/xattr by path) are serialised by one mutex held while the path is computed, the frame is
 * sent and the local syscall runs, and they all go on connection 0, applied in order by one thread
 * on the secondary. Data operations (write, fallocate, fsync, ftruncate, release) go on connection
 * 1 + (inode % (N-1)); a per-inode mutex held over "send + local write" gives both sides the same
 * order of writes to one file. Causally dependent operations are ordered by the ACK wait itself.
 *
 * O_SYNC/O_DSYNC: the kernel follows each write on such a file with an FSYNC request. Writes on
 * such files are already durable on both sides when they return, so that FSYNC is answered
 * locally and at once (per-inode "dirty" flags tell what an fsync still has to do).
 *
 * Failure: no ACK within --timeout-ms (or a lost/unauthenticated connection, or a different result
 * on the secondary) -> the primary goes ALONE: it stops sending, keeps serving locally, and appends
 * what changes to the change log (--changelog). State lines on stdout: `STATE sync`, `STATE alone
 * REASON`. */
#define FUSE_USE_VERSION 34
#include "common.h"

#include <fuse_lowlevel.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PATHCAP 8192
#define ZONE_SHIFT 16 /* change-log zones of 64 KiB */

/* ------------------------------------------------------------------------------------------ */
/* inodes */

struct pinode {
	struct pinode *hnext;
	int fd; /* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	int refs; /* children naming it as parent */
	struct pinode *parent;
	char *name; /* one name (the last seen); NULL when unknown (unlinked) */
	int is_symlink;
	atomic_int dirty_data, dirty_meta, dirty_remote;
	pthread_mutex_t wmu;
};

struct pfile {
	int fd;
	uint64_t rid; /* id of the secondary's handle; 0 = not open remotely */
	int flags;
	int sync;      /* O_DSYNC (1) or O_SYNC (2) */
	struct pinode *in;
};

#define HBUCKETS 65536
static struct pinode *g_hash[HBUCKETS];
static struct pinode g_root;
static pthread_mutex_t g_tmu = PTHREAD_MUTEX_INITIALIZER; /* hash, nlookup, refs, parent, name */
static pthread_mutex_t g_nsmu = PTHREAD_MUTEX_INITIALIZER; /* namespace order: path+send+local */
static atomic_uint_fast64_t g_next_rid = 1;
static const double TIMEOUT_S = 1.0;

static struct pinode *IN(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &g_root : (struct pinode *)(uintptr_t)ino;
}

static unsigned hslot(dev_t d, ino_t i)
{
	return (unsigned)((i * 0x9E3779B97F4A7C15ull ^ d) >> 16) % HBUCKETS;
}

static struct pinode *hfind(dev_t d, ino_t i)
{
	if (g_root.dev == d && g_root.ino == i) return &g_root;
	for (struct pinode *n = g_hash[hslot(d, i)]; n; n = n->hnext)
		if (n->dev == d && n->ino == i) return n;
	return NULL;
}

static void maybe_free_locked(struct pinode *n)
{
	while (n && n != &g_root && n->nlookup == 0 && n->refs == 0) {
		struct pinode **pp = &g_hash[hslot(n->dev, n->ino)];
		while (*pp && *pp != n) pp = &(*pp)->hnext;
		if (*pp) *pp = n->hnext;
		struct pinode *p = n->parent;
		close(n->fd);
		free(n->name);
		pthread_mutex_destroy(&n->wmu);
		free(n);
		if (p) p->refs--;
		n = p;
	}
}

static void set_name_locked(struct pinode *n, struct pinode *dir, const char *name)
{
	if (n == &g_root) return;
	if (n->parent == dir && n->name && strcmp(n->name, name) == 0) return;
	dir->refs++;
	struct pinode *old = n->parent;
	free(n->name);
	n->parent = dir;
	n->name = strdup(name);
	if (old) {
		old->refs--;
		maybe_free_locked(old);
	}
}

static void clear_name_locked(struct pinode *n, struct pinode *dir, const char *name)
{
	if (!n || n == &g_root || n->parent != dir || !n->name || strcmp(n->name, name)) return;
	free(n->name);
	n->name = NULL;
	n->parent = NULL;
	dir->refs--;
	maybe_free_locked(dir);
}

/* Relative path of n ("" for the root); -ENOENT when a name is unknown. Caller holds g_tmu. */
static int path_locked(struct pinode *n, char *buf, size_t cap)
{
	const char *parts[1024];
	int np = 0;
	for (struct pinode *p = n; p != &g_root; p = p->parent) {
		if (!p || !p->name || np == 1024) return -ENOENT;
		parts[np++] = p->name;
	}
	size_t len = 0;
	for (int i = np - 1; i >= 0; i--) {
		size_t l = strlen(parts[i]);
		if (len + l + 2 > cap) return -ENAMETOOLONG;
		memcpy(buf + len, parts[i], l);
		len += l;
		if (i) buf[len++] = '/';
	}
	buf[len] = 0;
	return (int)len + 1;
}

static int get_path(struct pinode *n, char *buf, size_t cap)
{
	pthread_mutex_lock(&g_tmu);
	int r = path_locked(n, buf, cap);
	pthread_mutex_unlock(&g_tmu);
	return r;
}

static int child_path(struct pinode *dir, const char *name, char *buf, size_t cap)
{
	int r = get_path(dir, buf, cap);
	if (r < 0) return r;
	size_t len = (size_t)r - 1, l = strlen(name);
	if (len + l + 3 > cap) return -ENAMETOOLONG;
	if (len) buf[len++] = '/';
	memcpy(buf + len, name, l + 1);
	return (int)(len + l + 1);
}

static int do_lookup(struct pinode *dir, const char *name, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->attr_timeout = e->entry_timeout = TIMEOUT_S;
	int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = errno;
		close(fd);
		return err;
	}
	pthread_mutex_lock(&g_tmu);
	struct pinode *n = hfind(e->attr.st_dev, e->attr.st_ino);
	if (n) {
		close(fd);
	} else {
		n = calloc(1, sizeof *n);
		n->fd = fd;
		n->dev = e->attr.st_dev;
		n->ino = e->attr.st_ino;
		n->is_symlink = S_ISLNK(e->attr.st_mode);
		n->dirty_data = n->dirty_meta = n->dirty_remote = 1; /* unknown: an fsync does everything */
		pthread_mutex_init(&n->wmu, NULL);
		unsigned s = hslot(n->dev, n->ino);
		n->hnext = g_hash[s];
		g_hash[s] = n;
	}
	if (n != &g_root) n->nlookup++;
	set_name_locked(n, dir, name);
	pthread_mutex_unlock(&g_tmu);
	e->ino = n == &g_root ? FUSE_ROOT_ID : (uintptr_t)n;
	return 0;
}

static struct pinode *find_child_locked(struct pinode *dir, const char *name)
{
	struct stat st;
	if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return NULL;
	return hfind(st.st_dev, st.st_ino);
}

/* ------------------------------------------------------------------------------------------ */
/* replication state, connections */

struct waiter {
	struct waiter *next;
	uint64_t seq;
	int done, lost, res;
	pthread_cond_t cv;
};

struct pconn {
	struct hr_chan ch;
	pthread_mutex_t smu; /* send order */
	pthread_mutex_t pmu; /* pending list */
	struct waiter *pending;
	uint64_t seq;
	int reading; /* a waiter is reading ACKs */
	int up;
};

static struct pconn g_conns[HR_MAX_CONNS];
static int g_nconns = 3;
static atomic_int g_alone;
static int g_timeout_ms = 2000;
static int g_spin_us = 50; /* --spin-us: adaptive polling, see spin_worker (0: libfuse loop) */
static uint8_t g_secret[256];
static size_t g_secret_len;
static char g_peer_host[128];
static int g_peer_port;
static pthread_condattr_t g_cvattr;

/* change log */
static int g_log_fd = -1;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_log_unsynced;

/* profile counters */
static atomic_uint_fast64_t st_w_last_end, st_w_gap, st_w_gap_n;
static atomic_uint_fast64_t st_w_n, st_w_send, st_w_local, st_w_wait, st_w_total, st_fsync_n, st_fsync_local,
	st_fsync_remote, st_fsync_fast, st_ops_n, st_ops_ns;
static volatile sig_atomic_t g_dump;

static void dump_stats(void)
{
	uint64_t n = st_w_n ? st_w_n : 1;
	printf("STATS primary writes=%llu avg_us: gap_between_writes(kernel+app)=%.1f send+mac=%.1f local=%.1f wait_after_local=%.1f total=%.1f | "
	       "fsync=%llu fast=%llu local_us=%.1f remote_us=%.1f | other_ops=%llu avg_us=%.1f\n",
	       (unsigned long long)st_w_n, st_w_gap_n ? st_w_gap / 1e3 / st_w_gap_n : 0.0, st_w_send / 1e3 / n, st_w_local / 1e3 / n, st_w_wait / 1e3 / n,
	       st_w_total / 1e3 / n, (unsigned long long)st_fsync_n, (unsigned long long)st_fsync_fast,
	       st_fsync_n ? st_fsync_local / 1e3 / st_fsync_n : 0.0, st_fsync_n ? st_fsync_remote / 1e3 / st_fsync_n : 0.0,
	       (unsigned long long)st_ops_n, st_ops_n ? st_ops_ns / 1e3 / st_ops_n : 0.0);
	fflush(stdout);
}

static void log_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == '%' || c >= 0x7f) o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
		else out[o++] = (char)c;
	}
	out[o] = 0;
}

static void clog_line(const char *fmt, ...)
{
	char line[3 * PATHCAP];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&g_log_mu);
	if (g_log_fd >= 0 && write(g_log_fd, line, (size_t)n) != n)
		fprintf(stderr, "hamod-repl: change log write failed: %s\n", strerror(errno));
	g_log_unsynced = 1;
	pthread_mutex_unlock(&g_log_mu);
}

static void clog_sync(void)
{
	if (g_log_fd >= 0 && atomic_exchange(&g_log_unsynced, 0)) fdatasync(g_log_fd);
}

/* Records a namespace/metadata change ("N op path [path2]"). */
static void clog_ns(const char *op, const char *p1, const char *p2)
{
	char e1[3 * PATHCAP], e2[3 * PATHCAP];
	log_escape(e1, sizeof e1, p1 && *p1 ? p1 : ".");
	if (p2) {
		log_escape(e2, sizeof e2, p2);
		clog_line("N %s %s %s", op, e1, e2);
	} else {
		clog_line("N %s %s", op, e1);
	}
}

/* Zones already recorded (dev, ino, zone): a zone is written to the log once per ALONE period. */
struct zent {
	struct zent *next;
	dev_t dev;
	ino_t ino;
	uint64_t zone;
};
#define ZBUCKETS 65536
static struct zent *g_zones[ZBUCKETS];

static int zone_mark(dev_t d, ino_t i, uint64_t z)
{
	unsigned s = (unsigned)(((i * 31 + z) * 0x9E3779B97F4A7C15ull) >> 40) % ZBUCKETS;
	for (struct zent *e = g_zones[s]; e; e = e->next)
		if (e->dev == d && e->ino == i && e->zone == z) return 0;
	struct zent *e = malloc(sizeof *e);
	e->dev = d;
	e->ino = i;
	e->zone = z;
	e->next = g_zones[s];
	g_zones[s] = e;
	return 1;
}

/* Records a data change of [off, off+len) of inode n as 64 KiB zones ("W path off len"). */
static void clog_data(struct pinode *n, uint64_t off, uint64_t len)
{
	if (!len) return;
	char p[PATHCAP], e[3 * PATHCAP];
	uint64_t z0 = off >> ZONE_SHIFT, z1 = (off + len - 1) >> ZONE_SHIFT;
	int any = 0;
	pthread_mutex_lock(&g_log_mu);
	for (uint64_t z = z0; z <= z1; z++) any |= zone_mark(n->dev, n->ino, z);
	pthread_mutex_unlock(&g_log_mu);
	if (!any) return;
	if (get_path(n, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)n->ino);
	log_escape(e, sizeof e, *p ? p : ".");
	clog_line("W %s %llu %llu", e, (unsigned long long)(z0 << ZONE_SHIFT),
		  (unsigned long long)((z1 - z0 + 1) << ZONE_SHIFT));
}

static void clog_meta(struct pinode *n, const char *what)
{
	char p[PATHCAP];
	if (get_path(n, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)n->ino);
	clog_ns(what, p, NULL);
}

static void go_alone(const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (atomic_exchange(&g_alone, 1)) return;
	for (int i = 0; i < g_nconns; i++) {
		struct pconn *c = &g_conns[i];
		if (c->up) shutdown(c->ch.fd, SHUT_RDWR);
		pthread_mutex_lock(&c->pmu);
		for (struct waiter *w = c->pending; w; w = w->next) {
			w->done = w->lost = 1;
			pthread_cond_signal(&w->cv);
		}
		c->pending = NULL;
		pthread_mutex_unlock(&c->pmu);
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	clog_line("ALONE %lld %s", (long long)now.tv_sec, reason);
	clog_sync();
	printf("STATE alone %s\n", reason);
	fflush(stdout);
}

/* ACKs are read by the waiting FUSE threads themselves (leader/follower): the first waiter of a
 * connection becomes its reader, completes whichever waiter each ACK belongs to, and hands the
 * reader role over when its own ACK has come. With one request in flight (iodepth 1) the thread
 * that sent the request reads its own answer: no thread handoff, one wakeup less per operation. */
static int read_one_ack(struct pconn *c)
{
	struct hr_hdr h;
	char buf[256];
	if (hr_recv(&c->ch, &h, buf, sizeof buf) < 0) return -1;
	if (h.op != OP_ACK) {
		errno = EPROTO;
		return -1;
	}
	pthread_mutex_lock(&c->pmu);
	for (struct waiter **pp = &c->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->seq == h.seq) {
			struct waiter *w = *pp;
			*pp = w->next;
			w->res = h.res;
			w->done = 1;
			pthread_cond_signal(&w->cv);
			break;
		}
	pthread_mutex_unlock(&c->pmu);
	return 0;
}

/* Sends a request; returns 0 when sent (wait for it with rpc_wait), -1 when alone / not sent.
 * w == NULL: fire and forget (the ACK is dropped). */
static int rpc_start(struct waiter *w, int ci, struct hr_hdr *h, const struct iovec *pay, int npay)
{
	if (g_alone) return -1;
	struct pconn *c = &g_conns[ci];
	pthread_mutex_lock(&c->smu);
	h->seq = ++c->seq;
	if (w) {
		w->seq = h->seq;
		w->done = w->lost = 0;
		w->res = 0;
		pthread_cond_init(&w->cv, &g_cvattr);
		pthread_mutex_lock(&c->pmu);
		if (g_alone) {
			pthread_mutex_unlock(&c->pmu);
			pthread_mutex_unlock(&c->smu);
			pthread_cond_destroy(&w->cv);
			return -1;
		}
		w->next = c->pending;
		c->pending = w;
		pthread_mutex_unlock(&c->pmu);
	}
	int r = hr_send(&c->ch, h, pay, npay);
	pthread_mutex_unlock(&c->smu);
	if (r < 0) {
		go_alone("send on connection %d: %s", ci, strerror(errno)); /* marks w lost */
		if (w) return 0; /* rpc_wait sees lost */
		return -1;
	}
	return 0;
}

/* Waits for the ACK: 0 with *res = the secondary's result, or -1 when lost (now alone). */
static int rpc_wait(struct waiter *w, int ci, int *res)
{
	struct pconn *c = &g_conns[ci];
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += g_timeout_ms / 1000;
	dl.tv_nsec += (long)(g_timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->pmu);
	int timed_out = 0, ioerr = 0;
	while (!w->done) {
		if (!c->reading && !g_alone) {
			c->reading = 1;
			pthread_mutex_unlock(&c->pmu);
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long ms = (dl.tv_sec - now.tv_sec) * 1000L + (dl.tv_nsec - now.tv_nsec) / 1000000L;
			struct pollfd p = {.fd = c->ch.fd, .events = POLLIN};
			int pr = ms > 0 ? (hr_spin_readable(c->ch.fd, g_spin_us) ? 1 : poll(&p, 1, (int)ms)) : 0;
			if (pr == 1 && read_one_ack(c) < 0) ioerr = errno ? errno : EIO;
			else if (pr < 0 && errno != EINTR) ioerr = errno;
			pthread_mutex_lock(&c->pmu);
			c->reading = 0;
			if (c->pending) pthread_cond_signal(&c->pending->cv); /* someone else may read now */
			if (ioerr) break;
			if (pr == 0 && !w->done) {
				timed_out = 1;
				break;
			}
			continue;
		}
		if (pthread_cond_timedwait(&w->cv, &c->pmu, &dl) == ETIMEDOUT && !w->done) {
			timed_out = 1;
			break;
		}
	}
	if (!w->done)
		for (struct waiter **pp = &c->pending; *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
	int lost = !w->done || w->lost;
	*res = w->res;
	pthread_mutex_unlock(&c->pmu);
	pthread_cond_destroy(&w->cv);
	if (ioerr) go_alone("connection %d lost: %s", ci, strerror(ioerr));
	else if (timed_out) go_alone("timeout: no answer from the secondary within %d ms", g_timeout_ms);
	return lost ? -1 : 0;
}

/* Heartbeat: a PING on every connection every timeout/3 ms, so that a peer lost while the
 * application is idle is noticed (and reported) within the timeout too. */
static void *heartbeat_thread(void *a)
{
	(void)a;
	int period = g_timeout_ms / 3 > 50 ? g_timeout_ms / 3 : 50;
	while (!g_alone) {
		usleep((useconds_t)period * 1000);
		for (int i = 0; i < g_nconns && !g_alone; i++) {
			struct hr_hdr h = {.op = OP_PING};
			struct waiter w;
			int res;
			if (rpc_start(&w, i, &h, NULL, 0) == 0) rpc_wait(&w, i, &res);
		}
	}
	return NULL;
}

/* Completes a replicated operation: sent = rpc_start's result, lres = local result (0/-errno).
 * Returns 1 when the secondary did not apply it identically (caller records it in the log). */
static int rpc_finish(int sent, struct waiter *w, int ci, int lres, const char *opname)
{
	int rres = 0;
	if (sent < 0) return lres == 0 ? 1 : 0; /* alone: record successful local changes */
	if (rpc_wait(w, ci, &rres) < 0) return 1;
	if (rres != lres) {
		go_alone("diverged: %s local=%d remote=%d", opname, lres, rres);
		return 1;
	}
	return 0;
}

static int data_conn(struct pinode *n)
{
	return g_nconns > 1 ? 1 + (int)(n->ino % (ino_t)(g_nconns - 1)) : 0;
}

static void hdr_paths(struct hr_hdr *h, struct iovec *v, int *nv, const char *p1, const char *p2)
{
	if (p1) {
		h->p1len = (uint32_t)strlen(p1) + 1;
		v[(*nv)++] = (struct iovec){(void *)p1, h->p1len};
	}
	if (p2) {
		h->p2len = (uint32_t)strlen(p2) + 1;
		v[(*nv)++] = (struct iovec){(void *)p2, h->p2len};
	}
}

/* ------------------------------------------------------------------------------------------ */
/* FUSE operations */

static void op_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_SPLICE_READ |
				  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	pthread_mutex_lock(&g_nsmu);
	int err = do_lookup(IN(parent), name, &e);
	pthread_mutex_unlock(&g_nsmu);
	if (err) fuse_reply_err(req, err);
	else fuse_reply_entry(req, &e);
}

static void forget_one(fuse_ino_t ino, uint64_t n)
{
	struct pinode *in = IN(ino);
	if (in == &g_root) return;
	pthread_mutex_lock(&g_tmu);
	in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
	maybe_free_locked(in);
	pthread_mutex_unlock(&g_tmu);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	forget_one(ino, n);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++) forget_one(f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	if (fstatat(IN(ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) fuse_reply_err(req, errno);
	else fuse_reply_attr(req, &st, TIMEOUT_S);
}

static int proc_path(char *buf, size_t cap, int fd)
{
	return snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pfile *pf = fi ? (struct pfile *)(uintptr_t)fi->fh : NULL;
	struct hr_hdr h = {.op = OP_SETATTR};
	uint32_t v = 0;
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}}, now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (valid & FUSE_SET_ATTR_MODE) v |= HR_SA_MODE, h.mode = attr->st_mode & 07777;
	if (valid & FUSE_SET_ATTR_UID) v |= HR_SA_UID, h.uid = attr->st_uid;
	if (valid & FUSE_SET_ATTR_GID) v |= HR_SA_GID, h.gid = attr->st_gid;
	if (valid & FUSE_SET_ATTR_SIZE) v |= HR_SA_SIZE, h.off = attr->st_size;
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		v |= HR_SA_ATIME;
		ts[0] = (valid & FUSE_SET_ATTR_ATIME_NOW) ? now : attr->st_atim;
	}
	if (valid & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		v |= HR_SA_MTIME;
		ts[1] = (valid & FUSE_SET_ATTR_MTIME_NOW) ? now : attr->st_mtim;
	}
	h.len = v;
	h.t1s = ts[0].tv_sec, h.t1ns = (uint32_t)ts[0].tv_nsec;
	h.t2s = ts[1].tv_sec, h.t2ns = (uint32_t)ts[1].tv_nsec;

	char path[PATHCAP], proc[64];
	struct iovec pv[2];
	int npv = 0, ci, sent = -1;
	struct waiter w;
	int by_fh = pf && pf->rid;
	if (by_fh) {
		ci = data_conn(in);
		h.fh = pf->rid;
		pthread_mutex_lock(&in->wmu);
	} else {
		ci = 0;
		pthread_mutex_lock(&g_nsmu);
	}
	if (v) {
		if (by_fh || get_path(in, path, sizeof path) >= 0) {
			if (!by_fh) hdr_paths(&h, pv, &npv, path, NULL);
			sent = rpc_start(&w, ci, &h, pv, npv);
		} else if (!g_alone) {
			go_alone("setattr on an inode without a known path (ino %llu)", (unsigned long long)in->ino);
		}
	}
	atomic_store(&in->dirty_meta, 1);
	atomic_store(&in->dirty_remote, 1);
	if (v & HR_SA_SIZE) atomic_store(&in->dirty_data, 1);

	int res = 0;
	proc_path(proc, sizeof proc, in->fd);
	if (v & HR_SA_MODE) res = (pf ? fchmod(pf->fd, h.mode) : chmod(proc, h.mode)) < 0 ? -errno : 0;
	if (!res && (v & (HR_SA_UID | HR_SA_GID))) {
		uid_t u = (v & HR_SA_UID) ? h.uid : (uid_t)-1;
		gid_t g = (v & HR_SA_GID) ? h.gid : (gid_t)-1;
		res = fchownat(in->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	}
	if (!res && (v & HR_SA_SIZE)) {
		if (pf) {
			res = ftruncate(pf->fd, h.off) < 0 ? -errno : 0;
		} else {
			int fd = open(proc, O_WRONLY | O_CLOEXEC);
			res = fd < 0 ? -errno : (ftruncate(fd, h.off) < 0 ? -errno : 0);
			if (fd >= 0) close(fd);
		}
	}
	if (!res && (v & (HR_SA_ATIME | HR_SA_MTIME))) {
		if (pf) {
			res = futimens(pf->fd, ts) < 0 ? -errno : 0;
		} else if (in->is_symlink) {
			pthread_mutex_lock(&g_tmu);
			if (in->parent && in->name)
				res = utimensat(in->parent->fd, in->name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
			else
				res = -ENOENT;
			pthread_mutex_unlock(&g_tmu);
		} else {
			res = utimensat(AT_FDCWD, proc, ts, 0) < 0 ? -errno : 0;
		}
	}
	if (by_fh) pthread_mutex_unlock(&in->wmu);
	else pthread_mutex_unlock(&g_nsmu);
	if (v && rpc_finish(sent, &w, ci, res, "setattr")) {
		if (v & HR_SA_SIZE) {
			char p[PATHCAP], e[3 * PATHCAP];
			if (get_path(in, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)in->ino);
			log_escape(e, sizeof e, p);
			clog_line("T %s %lld", e, (long long)h.off);
		}
		clog_meta(in, "setattr");
	}
	if (res) {
		fuse_reply_err(req, -res);
		return;
	}
	struct stat st;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) fuse_reply_err(req, errno);
	else fuse_reply_attr(req, &st, TIMEOUT_S);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(IN(ino)->fd, "", buf, sizeof buf);
	if (n < 0) fuse_reply_err(req, errno);
	else if ((size_t)n >= sizeof buf) fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = 0;
		fuse_reply_readlink(req, buf);
	}
}

/* Owner of a new object: the caller's uid; the caller's gid unless the parent is set-group-id. */
static void new_owner(fuse_req_t req, struct pinode *dir, uid_t *u, gid_t *g, mode_t *mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst;
	*u = ctx->uid;
	*g = ctx->gid;
	if (fstatat(dir->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID)) {
		*g = pst.st_gid;
		if (S_ISDIR(*mode)) *mode |= S_ISGID;
	}
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		      const char *link)
{
	struct pinode *dir = IN(parent);
	char path[PATHCAP];
	uid_t u;
	gid_t g;
	uint64_t t0 = hr_now_ns();
	new_owner(req, dir, &u, &g, &mode);
	int op = link ? OP_SYMLINK : S_ISDIR(mode) ? OP_MKDIR : OP_MKNOD;
	struct hr_hdr h = {.op = (uint16_t)op, .mode = mode, .uid = u, .gid = g, .rdev = rdev};
	struct iovec pv[2];
	int npv = 0, sent = -1;
	struct waiter w;
	struct fuse_entry_param e;
	pthread_mutex_lock(&g_nsmu);
	int pr = child_path(dir, name, path, sizeof path);
	if (pr >= 0) {
		hdr_paths(&h, pv, &npv, path, link);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (!g_alone) {
		go_alone("create in a directory without a known path");
	}
	int res;
	if (op == OP_SYMLINK) res = symlinkat(link, dir->fd, name);
	else if (op == OP_MKDIR) res = mkdirat(dir->fd, name, mode & 07777);
	else res = mknodat(dir->fd, name, mode, rdev);
	res = res < 0 ? -errno : 0;
	if (!res && fchownat(dir->fd, name, u, g, AT_SYMLINK_NOFOLLOW) < 0) res = -errno;
	if (!res && op != OP_SYMLINK) {
		int o = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		char proc[64];
		proc_path(proc, sizeof proc, o);
		if (o < 0 || chmod(proc, mode & 07777) < 0) res = -errno;
		if (o >= 0) close(o);
	}
	int lerr = res ? -res : do_lookup(dir, name, &e);
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, hr_op_names[op])) clog_ns(hr_op_names[op], pr >= 0 ? path : name, link);
	st_ops_n++;
	st_ops_ns += hr_now_ns() - t0;
	if (lerr) fuse_reply_err(req, lerr);
	else fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, int is_dir)
{
	struct pinode *dir = IN(parent);
	char path[PATHCAP];
	int op = is_dir ? OP_RMDIR : OP_UNLINK, sent = -1, npv = 0;
	struct hr_hdr h = {.op = (uint16_t)op};
	struct iovec pv[1];
	struct waiter w;
	uint64_t t0 = hr_now_ns();
	pthread_mutex_lock(&g_nsmu);
	int pr = child_path(dir, name, path, sizeof path);
	if (pr >= 0) {
		hdr_paths(&h, pv, &npv, path, NULL);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (!g_alone) {
		go_alone("remove in a directory without a known path");
	}
	pthread_mutex_lock(&g_tmu);
	struct pinode *victim = find_child_locked(dir, name);
	pthread_mutex_unlock(&g_tmu);
	int res = unlinkat(dir->fd, name, is_dir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
	if (!res) {
		pthread_mutex_lock(&g_tmu);
		if (victim) clear_name_locked(victim, dir, name);
		pthread_mutex_unlock(&g_tmu);
	}
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, hr_op_names[op])) clog_ns(hr_op_names[op], pr >= 0 ? path : name, NULL);
	st_ops_n++;
	st_ops_ns += hr_now_ns() - t0;
	fuse_reply_err(req, -res);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 1);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct pinode *d1 = IN(parent), *d2 = IN(newparent);
	char p1[PATHCAP], p2[PATHCAP];
	struct hr_hdr h = {.op = OP_RENAME, .len = flags};
	struct iovec pv[2];
	int npv = 0, sent = -1;
	struct waiter w;
	pthread_mutex_lock(&g_nsmu);
	int r1 = child_path(d1, name, p1, sizeof p1), r2 = child_path(d2, newname, p2, sizeof p2);
	if (r1 >= 0 && r2 >= 0) {
		hdr_paths(&h, pv, &npv, p1, p2);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (!g_alone) {
		go_alone("rename in a directory without a known path");
	}
	pthread_mutex_lock(&g_tmu);
	struct pinode *src = find_child_locked(d1, name), *dst = find_child_locked(d2, newname);
	pthread_mutex_unlock(&g_tmu);
	int res = renameat2(d1->fd, name, d2->fd, newname, flags) < 0 ? -errno : 0;
	if (!res) {
		pthread_mutex_lock(&g_tmu);
		if (dst && dst != src) {
			if (flags & RENAME_EXCHANGE) set_name_locked(dst, d1, name);
			else clear_name_locked(dst, d2, newname);
		}
		if (src) set_name_locked(src, d2, newname);
		pthread_mutex_unlock(&g_tmu);
	}
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, "rename")) clog_ns("rename", r1 >= 0 ? p1 : name, r2 >= 0 ? p2 : newname);
	fuse_reply_err(req, -res);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct pinode *in = IN(ino), *d2 = IN(newparent);
	char p1[PATHCAP], p2[PATHCAP], proc[64];
	struct hr_hdr h = {.op = OP_LINK};
	struct iovec pv[2];
	int npv = 0, sent = -1;
	struct waiter w;
	struct fuse_entry_param e;
	pthread_mutex_lock(&g_nsmu);
	int r1 = get_path(in, p1, sizeof p1), r2 = child_path(d2, newname, p2, sizeof p2);
	if (r1 >= 0 && r2 >= 0) {
		hdr_paths(&h, pv, &npv, p1, p2);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (!g_alone) {
		go_alone("link of an inode without a known path");
	}
	proc_path(proc, sizeof proc, in->fd);
	int res = linkat(AT_FDCWD, proc, d2->fd, newname, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	int lerr = res ? -res : do_lookup(d2, newname, &e);
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, "link")) clog_ns("link", r1 >= 0 ? p1 : "?", r2 >= 0 ? p2 : newname);
	if (lerr) fuse_reply_err(req, lerr);
	else fuse_reply_entry(req, &e);
}

#define LOCAL_STRIP (O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_DIRECT)
#define REMOTE_STRIP (O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_DIRECT)

static int wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static struct pfile *new_pfile(struct pinode *in, int fd, int flags)
{
	struct pfile *pf = calloc(1, sizeof *pf);
	pf->fd = fd;
	pf->flags = flags;
	pf->in = in;
	pf->sync = (flags & O_SYNC) == O_SYNC ? 2 : (flags & O_DSYNC) ? 1 : 0;
	return pf;
}

static int g_sync_direct = 1, g_write_direct = 1;
static int wants_write(int flags);

/* Files opened for writing get FOPEN_DIRECT_IO (unless --cached-writes): each write() comes to us
 * as is, without the copy into and allocation of the FUSE page cache (the slowest part of the
 * buffered FUSE write path on the machines measured), and for O_SYNC/O_DSYNC files the kernel does
 * not follow each write with an FSYNC request (the write is already durable on both sides when we
 * answer it): one kernel<->daemon round trip less per write. Cost: no shared writable mmap on
 * such files (ENODEV) until FUSE_DIRECT_IO_ALLOW_MMAP can be negotiated (libfuse >= 3.16), and
 * reads through such an fd go through the daemon. Files opened read-only keep the page cache. */
static void set_cache_mode(struct fuse_file_info *fi, struct pfile *pf)
{
	if ((pf->sync && g_sync_direct) || (g_write_direct && wants_write(pf->flags))) {
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else {
		fi->keep_cache = 1;
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	char proc[64], path[PATHCAP];
	int flags = fi->flags;
	proc_path(proc, sizeof proc, in->fd);
	if (!wants_write(flags)) {
		int fd = open(proc, (flags & ~LOCAL_STRIP) | O_CLOEXEC);
		if (fd < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		fi->fh = (uintptr_t)new_pfile(in, fd, flags);
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
		return;
	}
	struct hr_hdr h = {.op = OP_OPEN, .mode = (uint32_t)(flags & ~REMOTE_STRIP)};
	struct iovec pv[1];
	int npv = 0, sent = -1;
	struct waiter w;
	uint64_t rid = 0;
	pthread_mutex_lock(&g_nsmu);
	int pr = get_path(in, path, sizeof path);
	if (pr >= 0 && !g_alone) {
		rid = h.fh = g_next_rid++;
		hdr_paths(&h, pv, &npv, path, NULL);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (pr < 0 && !g_alone) {
		go_alone("open for writing of an inode without a known path");
	}
	int fd = open(proc, (flags & ~LOCAL_STRIP) | O_CLOEXEC);
	int res = fd < 0 ? -errno : 0;
	pthread_mutex_unlock(&g_nsmu);
	if (flags & O_TRUNC) atomic_store(&in->dirty_data, 1), atomic_store(&in->dirty_remote, 1);
	if (rpc_finish(sent, &w, 0, res, "open")) {
		rid = 0;
		if (flags & O_TRUNC) clog_meta(in, "truncate-open");
	}
	if (sent >= 0 && res && rid) { /* opened remotely only: close it there */
		struct hr_hdr r = {.op = OP_RELEASE, .fh = rid};
		rpc_start(NULL, data_conn(in), &r, NULL, 0);
	}
	if (res) {
		fuse_reply_err(req, -res);
		return;
	}
	struct pfile *pf = new_pfile(in, fd, flags);
	pf->rid = g_alone ? 0 : rid;
	fi->fh = (uintptr_t)pf;
	set_cache_mode(fi, pf);
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct pinode *dir = IN(parent);
	char path[PATHCAP];
	uid_t u;
	gid_t g;
	uint64_t t0 = hr_now_ns();
	new_owner(req, dir, &u, &g, &mode);
	int flags = fi->flags;
	struct hr_hdr h = {.op = OP_CREATE, .mode = mode & 07777, .len = (uint64_t)(flags & ~REMOTE_STRIP), .uid = u, .gid = g};
	struct iovec pv[1];
	int npv = 0, sent = -1;
	struct waiter w;
	struct fuse_entry_param e;
	uint64_t rid = 0;
	pthread_mutex_lock(&g_nsmu);
	int pr = child_path(dir, name, path, sizeof path);
	if (pr >= 0 && !g_alone) {
		rid = h.fh = g_next_rid++;
		hdr_paths(&h, pv, &npv, path, NULL);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (pr < 0 && !g_alone) {
		go_alone("create in a directory without a known path");
	}
	int fd = openat(dir->fd, name, (flags & ~(O_APPEND | O_DIRECT | O_NOCTTY)) | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			mode & 07777);
	int res = fd < 0 ? -errno : 0;
	if (!res && (fchown(fd, u, g) < 0 || fchmod(fd, mode & 07777) < 0)) res = -errno;
	int lerr = res ? -res : do_lookup(dir, name, &e);
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, "create")) {
		rid = 0;
		clog_ns("create", pr >= 0 ? path : name, NULL);
	}
	st_ops_n++;
	st_ops_ns += hr_now_ns() - t0;
	if (res || lerr) {
		if (fd >= 0) close(fd);
		if (sent >= 0 && rid && !g_alone) {
			struct hr_hdr r = {.op = OP_RELEASE, .fh = rid};
			rpc_start(NULL, data_conn(dir), &r, NULL, 0);
		}
		fuse_reply_err(req, res ? -res : lerr);
		return;
	}
	struct pinode *in = IN(e.ino);
	/* The RELEASE and WRITEs of this file go on its data connection; the CREATE went on 0 and
	 * was acknowledged before any of them can be sent. */
	struct pfile *pf = new_pfile(in, fd, flags);
	pf->rid = g_alone ? 0 : rid;
	fi->fh = (uintptr_t)pf;
	set_cache_mode(fi, pf);
	fuse_reply_create(req, &e, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	struct pfile *pf = (struct pfile *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = pf->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pfile *pf = (struct pfile *)(uintptr_t)fi->fh;
	uint64_t t0 = hr_now_ns(), t1, t2;
	uint64_t last = st_w_last_end;
	if (last && t0 - last < 100000000ull) {
		st_w_gap += t0 - last;
		st_w_gap_n++;
	}
	if (!pf->sync) {
		atomic_store(&in->dirty_data, 1);
		atomic_store(&in->dirty_remote, 1);
	} else if (pf->sync == 1) {
		atomic_store(&in->dirty_meta, 1);
	}
	int ci = data_conn(in), sent = -1;
	struct waiter w;
	struct hr_hdr h = {.op = OP_WRITE, .fh = pf->rid, .off = off};
	struct iovec pv[1] = {{(void *)buf, size}};
	pthread_mutex_lock(&in->wmu);
	if (pf->rid) sent = rpc_start(&w, ci, &h, pv, 1);
	t1 = hr_now_ns();
	size_t done = 0;
	int res = 0;
	while (done < size) {
		ssize_t n = pwrite(pf->fd, buf + done, size - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR) continue;
			res = -errno;
			break;
		}
		if (n == 0) {
			res = -EIO;
			break;
		}
		done += (size_t)n;
	}
	pthread_mutex_unlock(&in->wmu);
	t2 = hr_now_ns();
	int need_log;
	if (pf->rid) {
		need_log = rpc_finish(sent, &w, ci, res, "write");
	} else {
		need_log = done > 0;
		if (!g_alone) go_alone("write on a file not open on the secondary");
	}
	if (need_log && done) {
		clog_data(in, (uint64_t)off, done);
		if (pf->sync) clog_sync();
	}
	uint64_t t3 = hr_now_ns();
	st_w_n++;
	st_w_send += t1 - t0;
	st_w_local += t2 - t1;
	st_w_wait += t3 - t2;
	st_w_total += t3 - t0;
	st_w_last_end = hr_now_ns();
	if (done == 0 && res) fuse_reply_err(req, -res);
	else fuse_reply_write(req, done);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pfile *pf = (struct pfile *)(uintptr_t)fi->fh;
	if (pf->rid && !g_alone) {
		struct hr_hdr h = {.op = OP_RELEASE, .fh = pf->rid};
		pthread_mutex_lock(&in->wmu);
		rpc_start(NULL, data_conn(in), &h, NULL, 0);
		pthread_mutex_unlock(&in->wmu);
	}
	close(pf->fd);
	free(pf);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pfile *pf = (struct pfile *)(uintptr_t)fi->fh;
	uint64_t t0 = hr_now_ns();
	st_fsync_n++;
	int need_local = atomic_exchange(&in->dirty_data, 0);
	if (!datasync) need_local |= atomic_exchange(&in->dirty_meta, 0);
	int need_remote = atomic_exchange(&in->dirty_remote, 0);
	if (g_alone) {
		need_remote = 0;
		clog_sync();
	}
	if (!need_local && !need_remote) { /* everything already durable on both sides */
		st_fsync_fast++;
		fuse_reply_err(req, 0);
		return;
	}
	struct hr_hdr h = {.op = OP_FSYNC, .flags = datasync ? F_DATASYNC : 0};
	struct iovec pv[1];
	int npv = 0, sent = -1, ci;
	struct waiter w;
	char path[PATHCAP];
	if (need_remote) {
		if (pf->rid) {
			ci = data_conn(in);
			h.fh = pf->rid;
			pthread_mutex_lock(&in->wmu);
			sent = rpc_start(&w, ci, &h, NULL, 0);
			pthread_mutex_unlock(&in->wmu);
		} else {
			ci = 0;
			pthread_mutex_lock(&g_nsmu);
			if (get_path(in, path, sizeof path) >= 0) {
				hdr_paths(&h, pv, &npv, path, NULL);
				sent = rpc_start(&w, ci, &h, pv, npv);
			}
			pthread_mutex_unlock(&g_nsmu);
		}
	} else {
		ci = 0;
	}
	int res = 0;
	if (need_local) res = (datasync ? fdatasync(pf->fd) : fsync(pf->fd)) < 0 ? -errno : 0;
	uint64_t t1 = hr_now_ns();
	if (need_remote && rpc_finish(sent, &w, ci, res, "fsync")) clog_sync();
	if (res) { /* keep the marks: a later fsync must try again */
		atomic_store(&in->dirty_data, 1);
		atomic_store(&in->dirty_meta, 1);
	}
	st_fsync_local += t1 - t0;
	st_fsync_remote += hr_now_ns() - t0;
	fuse_reply_err(req, -res);
}

struct pdir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pdir *d = calloc(1, sizeof *d);
	int fd = openat(IN(ino)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int err = errno;
		if (fd >= 0) close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)ino;
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *p = buf;
	size_t rem = size;
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) break;
		}
		off_t next = d->entry->d_off;
		struct stat st = {.st_ino = d->entry->d_ino, .st_mode = (mode_t)d->entry->d_type << 12};
		size_t n = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, next);
		if (n > rem) break;
		p += n;
		rem -= n;
		d->entry = NULL;
		d->offset = next;
	}
	fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;
	struct hr_hdr h = {.op = OP_FSYNCDIR, .flags = datasync ? F_DATASYNC : 0};
	struct iovec pv[1];
	int npv = 0, sent = -1;
	struct waiter w;
	char path[PATHCAP];
	pthread_mutex_lock(&g_nsmu);
	if (get_path(in, path, sizeof path) >= 0) {
		hdr_paths(&h, pv, &npv, path, NULL);
		sent = rpc_start(&w, 0, &h, pv, npv);
	}
	pthread_mutex_unlock(&g_nsmu);
	int fd = dirfd(d->dp);
	int res = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	if (rpc_finish(sent, &w, 0, res, "fsyncdir") || g_alone) clog_sync();
	fuse_reply_err(req, -res);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs s;
	if (fstatvfs(IN(ino)->fd, &s) < 0) fuse_reply_err(req, errno);
	else fuse_reply_statfs(req, &s);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	struct pinode *in = IN(ino);
	char path[PATHCAP], proc[64];
	struct hr_hdr h = {.op = OP_SETXATTR, .len = (uint64_t)flags};
	struct iovec pv[3];
	int npv = 0, sent = -1;
	struct waiter w;
	pthread_mutex_lock(&g_nsmu);
	int pr = get_path(in, path, sizeof path);
	if (pr >= 0) {
		hdr_paths(&h, pv, &npv, path, name);
		pv[npv++] = (struct iovec){(void *)value, size};
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (!g_alone) {
		go_alone("setxattr on an inode without a known path");
	}
	proc_path(proc, sizeof proc, in->fd);
	int res = in->is_symlink ? -EPERM : setxattr(proc, name, value, size, flags) < 0 ? -errno : 0;
	atomic_store(&in->dirty_meta, 1);
	atomic_store(&in->dirty_remote, 1);
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, "setxattr")) clog_meta(in, "setxattr");
	fuse_reply_err(req, -res);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct pinode *in = IN(ino);
	char path[PATHCAP], proc[64];
	struct hr_hdr h = {.op = OP_REMOVEXATTR};
	struct iovec pv[2];
	int npv = 0, sent = -1;
	struct waiter w;
	pthread_mutex_lock(&g_nsmu);
	int pr = get_path(in, path, sizeof path);
	if (pr >= 0) {
		hdr_paths(&h, pv, &npv, path, name);
		sent = rpc_start(&w, 0, &h, pv, npv);
	} else if (!g_alone) {
		go_alone("removexattr on an inode without a known path");
	}
	proc_path(proc, sizeof proc, in->fd);
	int res = in->is_symlink ? -EPERM : removexattr(proc, name) < 0 ? -errno : 0;
	atomic_store(&in->dirty_meta, 1);
	atomic_store(&in->dirty_remote, 1);
	pthread_mutex_unlock(&g_nsmu);
	if (rpc_finish(sent, &w, 0, res, "removexattr")) clog_meta(in, "removexattr");
	fuse_reply_err(req, -res);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char proc[64];
	struct pinode *in = IN(ino);
	if (in->is_symlink) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	proc_path(proc, sizeof proc, in->fd);
	if (size == 0) {
		ssize_t n = getxattr(proc, name, NULL, 0);
		if (n < 0) fuse_reply_err(req, errno);
		else fuse_reply_xattr(req, (size_t)n);
		return;
	}
	char *buf = malloc(size);
	ssize_t n = getxattr(proc, name, buf, size);
	if (n < 0) fuse_reply_err(req, errno);
	else fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char proc[64];
	struct pinode *in = IN(ino);
	if (in->is_symlink) {
		if (size == 0) fuse_reply_xattr(req, 0);
		else fuse_reply_buf(req, NULL, 0);
		return;
	}
	proc_path(proc, sizeof proc, in->fd);
	if (size == 0) {
		ssize_t n = listxattr(proc, NULL, 0);
		if (n < 0) fuse_reply_err(req, errno);
		else fuse_reply_xattr(req, (size_t)n);
		return;
	}
	char *buf = malloc(size);
	ssize_t n = listxattr(proc, buf, size);
	if (n < 0) fuse_reply_err(req, errno);
	else fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pfile *pf = (struct pfile *)(uintptr_t)fi->fh;
	struct hr_hdr h = {.op = OP_FALLOCATE, .fh = pf->rid, .mode = (uint32_t)mode, .off = off, .len = (uint64_t)len};
	int ci = data_conn(in), sent = -1;
	struct waiter w;
	atomic_store(&in->dirty_data, 1);
	atomic_store(&in->dirty_meta, 1);
	atomic_store(&in->dirty_remote, 1);
	pthread_mutex_lock(&in->wmu);
	if (pf->rid) sent = rpc_start(&w, ci, &h, NULL, 0);
	else if (!g_alone) go_alone("fallocate on a file not open on the secondary");
	int res = fallocate(pf->fd, mode, off, len) < 0 ? -errno : 0;
	pthread_mutex_unlock(&in->wmu);
	if (rpc_finish(sent, &w, ci, res, "fallocate")) clog_data(in, (uint64_t)off, (uint64_t)len);
	fuse_reply_err(req, -res);
}

static const struct fuse_lowlevel_ops g_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
};

/* ------------------------------------------------------------------------------------------ */

static int connect_peer(int idx, uint64_t session)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_peer_port)};
	if (inet_pton(AF_INET, g_peer_host, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) goto fail;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, g_timeout_ms) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		errno = err;
		goto fail;
	}
	fcntl(fd, F_SETFL, 0);
	struct timeval tv = {.tv_sec = g_timeout_ms / 1000, .tv_usec = (g_timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	hr_tune_socket(fd);
	struct pconn *c = &g_conns[idx];
	if (hr_handshake_client(&c->ch, fd, g_secret, g_secret_len, (uint32_t)idx, session) < 0) goto fail;
	/* SO_RCVTIMEO stays at the timeout: a reader stuck in the middle of a frame gives up too. */
	c->up = 1;
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Optional session loop with adaptive polling (--spin-us N): on this kind of VM a sleeping
 * thread costs tens of microseconds to wake (HLT exits), twice per FUSE request. The thread that
 * just answered a request polls /dev/fuse (non-blocking) for up to N us before sleeping, so the
 * application's next request is picked up without a wakeup. At most one thread spins at a time. */
static atomic_int g_spinner;
static struct fuse_session *g_se;

static void *spin_worker(void *a)
{
	(void)a;
	struct fuse_buf fbuf = {.mem = NULL};
	int fd = fuse_session_fd(g_se);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	int just_worked = 0;
	while (!fuse_session_exited(g_se)) {
		int r = fuse_session_receive_buf(g_se, &fbuf);
		if (r == -EAGAIN && just_worked && !atomic_exchange(&g_spinner, 1)) {
			uint64_t end = hr_now_ns() + (uint64_t)g_spin_us * 1000u;
			do {
				hr_cpu_relax();
				r = fuse_session_receive_buf(g_se, &fbuf);
			} while (r == -EAGAIN && hr_now_ns() < end);
			g_spinner = 0;
		}
		just_worked = 0;
		if (r == -EAGAIN || r == -EINTR) {
			epoll_wait(ep, &ev, 1, 200);
			continue;
		}
		if (r <= 0) {
			if (r < 0) break;
			continue;
		}
		fuse_session_process_buf(g_se, &fbuf);
		just_worked = 1;
	}
	free(fbuf.mem);
	close(ep);
	fuse_session_exit(g_se);
	return NULL;
}

static int spin_loop(struct fuse_session *se, int threads)
{
	g_se = se;
	int fd = fuse_session_fd(se);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	for (int i = 1; i < threads; i++) pthread_create(&t[i], NULL, spin_worker, NULL);
	spin_worker(NULL);
	for (int i = 1; i < threads; i++) pthread_join(t[i], NULL);
	free(t);
	return 0;
}

static volatile sig_atomic_t g_stats_stop;
static void on_usr1(int s)
{
	(void)s;
	g_dump = 1;
}
static void *stats_thread(void *a)
{
	(void)a;
	while (!g_stats_stop) {
		usleep(100000);
		if (g_dump) {
			g_dump = 0;
			dump_stats();
		}
	}
	return NULL;
}

int primary_main(int argc, char **argv)
{
	const char *dir = NULL, *peer = NULL, *keyfile = NULL, *changelog = NULL;
	int threads = 16;
	static struct option lo[] = {{"dir", 1, 0, 'd'},	  {"peer", 1, 0, 'p'},	   {"key-file", 1, 0, 'k'},
				     {"timeout-ms", 1, 0, 't'}, {"changelog", 1, 0, 'c'}, {"conns", 1, 0, 'n'},
				     {"threads", 1, 0, 'T'},	  {"no-sync-direct", 0, 0, 'D'}, {"cached-writes", 0, 0, 'W'}, {"spin-us", 1, 0, 'S'}, {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': peer = optarg; break;
		case 'k': keyfile = optarg; break;
		case 't': g_timeout_ms = atoi(optarg); break;
		case 'c': changelog = optarg; break;
		case 'n': g_nconns = atoi(optarg); break;
		case 'T': threads = atoi(optarg); break;
		case 'D': g_sync_direct = 0; break;
		case 'W': g_write_direct = 0; break;
		case 'S': g_spin_us = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!dir || !peer || !keyfile || g_timeout_ms <= 0 || g_nconns < 1 || g_nconns > HR_MAX_CONNS) {
		fprintf(stderr, "usage: hamod-repl primary --dir D --peer HOST:PORT --key-file K [--timeout-ms N] "
				"[--changelog FILE] [--conns N] [--threads N] [--cached-writes] [--no-sync-direct] [--spin-us N]\n");
		return 2;
	}
	if (hr_read_keyfile(keyfile, g_secret, sizeof g_secret, &g_secret_len) < 0) {
		fprintf(stderr, "hamod-repl: key file %s: %s (need >= 16 bytes)\n", keyfile, strerror(errno));
		return 1;
	}
	if (hr_parse_hostport(peer, g_peer_host, sizeof g_peer_host, &g_peer_port) < 0) {
		fprintf(stderr, "hamod-repl: bad --peer %s\n", peer);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(0); /* the kernel already applied the caller's umask */
	pthread_condattr_init(&g_cvattr);
	pthread_condattr_setclock(&g_cvattr, CLOCK_MONOTONIC);

	/* The directory fd, opened BEFORE mounting over the directory: everything goes through it. */
	g_root.fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat rst;
	if (g_root.fd < 0 || fstat(g_root.fd, &rst) < 0) {
		fprintf(stderr, "hamod-repl: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	g_root.dev = rst.st_dev;
	g_root.ino = rst.st_ino;
	g_root.nlookup = 2;
	g_root.dirty_data = g_root.dirty_meta = g_root.dirty_remote = 1;
	pthread_mutex_init(&g_root.wmu, NULL);

	char defl[PATH_MAX + 32];
	if (!changelog) {
		char *d = realpath(dir, NULL);
		snprintf(defl, sizeof defl, "%s.hamod-changes", d ? d : dir);
		free(d);
		changelog = defl;
	}
	g_log_fd = open(changelog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (g_log_fd < 0) {
		fprintf(stderr, "hamod-repl: change log %s: %s\n", changelog, strerror(errno));
		return 1;
	}

	uint64_t session;
	hr_fill_random(&session, sizeof session);
	for (int i = 0; i < g_nconns; i++) {
		pthread_mutex_init(&g_conns[i].smu, NULL);
		pthread_mutex_init(&g_conns[i].pmu, NULL);
	}
	for (int i = 0; i < g_nconns && !g_alone; i++) {
		if (connect_peer(i, session) < 0) go_alone("cannot connect to %s: %s", peer, strerror(errno));
	}
	if (!g_alone) {
		pthread_t hb;
		pthread_create(&hb, NULL, heartbeat_thread, NULL);
		pthread_detach(hb);
		printf("STATE sync\n");
	}

	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	fuse_opt_add_arg(&args, "hamod-repl");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, "default_permissions,allow_other,fsname=hamod-repl,subtype=hamod-repl");
	struct fuse_session *se = fuse_session_new(&args, &g_ops, sizeof g_ops, NULL);
	if (!se) return 1;
	if (fuse_set_signal_handlers(se) != 0) return 1;
	if (fuse_session_mount(se, dir) != 0) {
		fprintf(stderr, "hamod-repl: cannot mount over %s\n", dir);
		return 1;
	}
	struct sigaction act = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &act, NULL);
	pthread_t st;
	pthread_create(&st, NULL, stats_thread, NULL);
	printf("READY %s\n", dir);
	int r;
	if (g_spin_us > 0) {
		r = spin_loop(se, threads);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_max_threads(cfg, (unsigned)threads);
		fuse_loop_cfg_set_idle_threads(cfg, (unsigned)threads);
		r = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	g_stats_stop = 1;
	pthread_join(st, NULL);
	clog_sync();
	dump_stats();
	printf("EXIT %d\n", r);
	fflush(stdout);
	_exit(r < 0 ? 1 : 0); /* > 0: ended by that signal (SIGTERM...) */
}
