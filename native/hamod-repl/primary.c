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
 * Modes and the mirror (CONTROL.md): the agent drives the daemon through the control socket
 * (MODE off|hold|alone GEN|sync GEN, ATTACH, DETACH, STATUS). Every mutating operation passes
 * gate_enter() (off: EROFS; hold: wait; sync: wait unless an in-sync mirror is attached; alone:
 * go). An operation that the attached mirror did not acknowledge identically is recorded in the
 * change log and then passes ack_gate() before it is answered: in alone mode at once, otherwise
 * it is HELD until `MODE alone NEWGEN` (answered) or `MODE off` (EROFS). A failure of an in-sync
 * mirror prints OUTOFSYNC and holds every later mutating operation the same way. */
#define FUSE_USE_VERSION 34
#include "primary.h"

#include <fuse_lowlevel.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/falloc.h>
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
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

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
};

struct pfile {
	int fd;
	uint64_t rid; /* id of the secondary's handle; 0 = not open remotely */
	uint64_t rep; /* mirror epoch the handle belongs to */
	int flags;
	int sync;     /* O_DSYNC (1) or O_SYNC (2) */
	int excl;     /* excluded path (or unlinked before a mirror came): local only */
	struct pinode *in;
};

#define HBUCKETS 65536
static struct pinode *g_hash[HBUCKETS];
static struct pinode g_root;
int g_rootfd = -1;
static pthread_mutex_t g_tmu = PTHREAD_MUTEX_INITIALIZER; /* hash, nlookup, refs, parent, name */
pthread_mutex_t g_nsmu = PTHREAD_MUTEX_INITIALIZER;       /* namespace order: path+send+local */
static atomic_uint_fast64_t g_next_rid = 1;
static const double TIMEOUT_S = 1.0;

/* Per-inode write lock, striped by (dev, ino) so that the resync can take it for inodes the
 * kernel never looked up (no pinode). */
#define NSTRIPES 1024
static pthread_mutex_t g_stripes[NSTRIPES];

pthread_mutex_t *ino_lock(dev_t d, ino_t i)
{
	return &g_stripes[(unsigned)(((uint64_t)i * 0x9E3779B97F4A7C15ull ^ (uint64_t)d) >> 20) % NSTRIPES];
}

static pthread_mutex_t *WMU(struct pinode *n)
{
	return ino_lock(n->dev, n->ino);
}

uint64_t next_rid(void)
{
	return g_next_rid++;
}

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
/* modes, mirror state, events */

enum { MODE_OFF, MODE_HOLD, MODE_ALONE, MODE_SYNC };
static const char *const MODE_NAMES[] = {"off", "hold", "alone", "sync"};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* mode, gen, hold, mirror transitions */
static pthread_cond_t g_mode_cv;
static atomic_int g_mode = MODE_HOLD;
atomic_int g_mir = MIR_NONE;
atomic_uint_fast64_t g_epoch;
static atomic_int g_hold;                 /* OUTOFSYNC: unmirrored operations wait */
static char g_gen[96] = "-", g_hold_gen[96], g_last_reason[256] = "control";
static int g_oos_reported;
static int g_auto_alone;                  /* --peer without --control: the old automatic ALONE */
static atomic_int g_resync_busy;
atomic_uint_fast64_t g_rs_done, g_rs_total, g_rs_sent;
/* Readers: a mutating operation from its gate to its log record. Writer: the resync when the
 * mirror goes live / in sync (so that no operation straddles the switch unrecorded). */
static pthread_rwlock_t g_live_rw;
static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;

void ev(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&g_out_mu);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&g_out_mu);
	va_end(ap);
}

const char *cur_gen(void)
{
	return g_gen;
}

int mirror_alive(uint64_t ep)
{
	return g_epoch == ep && g_mir != MIR_NONE;
}

/* Gate of every mutating operation, before anything is sent or applied. 0 or -EROFS. */
static int gate_enter(void)
{
	int m = g_mode;
	if (!g_hold && (m == MODE_ALONE || (m == MODE_SYNC && g_mir == MIR_INSYNC))) return 0;
	int r = 0, deadline_set = 0;
	struct timespec deadline = {0, 0};
	pthread_mutex_lock(&g_mu);
	for (;;) {
		m = g_mode;
		if (m == MODE_OFF) {
			r = -EROFS;
			break;
		}
		if (!g_hold && (m == MODE_ALONE || (m == MODE_SYNC && g_mir == MIR_INSYNC))) break;
		/* In sync mode without an in-sync mirror (not a failure: the secondary has not attached
		 * yet, e.g. just after a start or a swap) the operation waits up to the replication
		 * timeout for it before the agent is told. A failed mirror (g_hold) is reported at once. */
		if (m == MODE_SYNC && !g_oos_reported && !g_hold && !deadline_set) {
			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_sec += g_timeout_ms / 1000;
			deadline.tv_nsec += (long)(g_timeout_ms % 1000) * 1000000L;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
			deadline_set = 1;
		}
		if (m == MODE_SYNC && !g_oos_reported && !g_hold && deadline_set) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec < deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec < deadline.tv_nsec)) {
				pthread_cond_timedwait(&g_mode_cv, &g_mu, &deadline);
				continue;
			}
		}
		if (m == MODE_SYNC && !g_oos_reported) {
			g_oos_reported = 1;
			ev("OUTOFSYNC %s", g_hold ? g_last_reason : g_mir == MIR_NONE ? "no mirror attached" : "mirror not in sync yet");
		}
		pthread_cond_wait(&g_mode_cv, &g_mu);
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

/* After an operation that the mirror did not acknowledge (already applied locally and recorded):
 * 0 = answer it now (alone), -EROFS = mode off; otherwise wait (held). */
static int ack_gate(void)
{
	if (g_mode == MODE_ALONE && !g_hold) return 0;
	int r;
	pthread_mutex_lock(&g_mu);
	for (;;) {
		if (g_mode == MODE_OFF) {
			r = -EROFS;
			break;
		}
		if (g_mode == MODE_ALONE && !g_hold) {
			r = 0;
			break;
		}
		pthread_cond_wait(&g_mode_cv, &g_mu);
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

static void live_rd(void)
{
	pthread_rwlock_rdlock(&g_live_rw);
}

static void live_un(void)
{
	pthread_rwlock_unlock(&g_live_rw);
}

/* ------------------------------------------------------------------------------------------ */
/* connections */

struct waiter {
	struct waiter *next;
	uint64_t seq, ep;
	int done, lost, res;
	pthread_cond_t cv;
	char *rbuf; /* reply payload (resync requests) */
	size_t rcap, rlen;
	struct hr_hdr ack;
};

struct pconn {
	struct hr_chan ch;
	pthread_mutex_t smu; /* send order */
	pthread_mutex_t pmu; /* pending list */
	struct waiter *pending;
	uint64_t seq;
	int reading; /* a waiter is reading ACKs */
	atomic_uint ack_ewma_ns; /* recent time from rpc_wait to its ACK (adaptive ACK polling) */
	int up;
	char *rx;    /* ACK payload buffer (used by the reader) */
};

static struct pconn g_conns[HR_MAX_CONNS + 1];
int g_nconns = 3;
int g_timeout_ms = 2000;
uint32_t g_zone = 4096;
static int g_spin_us = 50; /* --spin-us: adaptive polling, see spin_worker (0: libfuse loop) */
static int g_ack_spin_us = 300; /* --ack-spin-us: longest ACK poll when ACKs come that fast */
static uint8_t g_secret[256];
static size_t g_secret_len;
static pthread_condattr_t g_cvattr;

/* change log */
static int g_log_fd = -1;
char g_changelog_path[PATH_MAX + 64];
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_log_unsynced;
static atomic_uint_fast64_t g_log_records;
static char g_base[96] = "none";
static int g_log_clean_at_start;

/* profile counters */
static atomic_uint_fast64_t st_w_last_end, st_w_gap, st_w_gap_n;
static atomic_uint_fast64_t st_w_n, st_w_send, st_w_local, st_w_wait, st_w_total, st_fsync_n, st_fsync_local,
	st_fsync_remote, st_fsync_fast, st_ops_n, st_ops_ns;
static volatile sig_atomic_t g_dump;

static void dump_stats(void)
{
	uint64_t n = st_w_n ? st_w_n : 1;
	ev("STATS primary writes=%llu avg_us: gap_between_writes(kernel+app)=%.1f send+mac=%.1f local=%.1f wait_after_local=%.1f total=%.1f | "
	   "fsync=%llu fast=%llu local_us=%.1f remote_us=%.1f | other_ops=%llu avg_us=%.1f",
	   (unsigned long long)st_w_n, st_w_gap_n ? st_w_gap / 1e3 / st_w_gap_n : 0.0, st_w_send / 1e3 / n, st_w_local / 1e3 / n,
	   st_w_wait / 1e3 / n, st_w_total / 1e3 / n, (unsigned long long)st_fsync_n, (unsigned long long)st_fsync_fast,
	   st_fsync_n ? st_fsync_local / 1e3 / st_fsync_n : 0.0, st_fsync_n ? st_fsync_remote / 1e3 / st_fsync_n : 0.0,
	   (unsigned long long)st_ops_n, st_ops_n ? st_ops_ns / 1e3 / st_ops_n : 0.0);
}

/* ------------------------------------------------------------------------------------------ */
/* change log */

void clog_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == '%' || c >= 0x7f) o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
		else out[o++] = (char)c;
	}
	out[o] = 0;
}

void clog_line(const char *fmt, ...)
{
	char line[3 * PATHCAP + 64];
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
	if (line[1] == ' ' && (line[0] == 'W' || line[0] == 'T' || line[0] == 'N')) g_log_records++;
	pthread_mutex_unlock(&g_log_mu);
}

void clog_sync(void)
{
	pthread_mutex_lock(&g_log_mu);
	if (g_log_fd >= 0 && atomic_exchange(&g_log_unsynced, 0)) fdatasync(g_log_fd);
	pthread_mutex_unlock(&g_log_mu);
}

char *clog_read(off_t from, size_t *len)
{
	int fd = open(g_changelog_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return NULL;
	struct stat st;
	fstat(fd, &st);
	size_t n = st.st_size > from ? (size_t)(st.st_size - from) : 0, got = 0;
	char *b = malloc(n + 1);
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, from + (off_t)got);
		if (r <= 0) break;
		got += (size_t)r;
	}
	close(fd);
	b[got] = 0;
	*len = got;
	return b;
}

static uint64_t g_log_gen; /* bumped when the log file is replaced (reset, compaction) */

off_t clog_size(void)
{
	return clog_size_gen(NULL);
}

off_t clog_size_gen(uint64_t *gen)
{
	struct stat st;
	pthread_mutex_lock(&g_log_mu);
	off_t s = fstat(g_log_fd, &st) == 0 ? st.st_size : 0;
	if (gen) *gen = g_log_gen;
	pthread_mutex_unlock(&g_log_mu);
	return s;
}

/* Records a namespace/metadata change ("N op path [path2]"). */
static void clog_ns(const char *op, const char *p1, const char *p2)
{
	char e1[3 * PATHCAP], e2[3 * PATHCAP];
	clog_escape(e1, sizeof e1, p1 && *p1 ? p1 : ".");
	if (p2) {
		clog_escape(e2, sizeof e2, p2);
		clog_line("N %s %s %s", op, e1, e2);
	} else {
		clog_line("N %s %s", op, e1);
	}
}

/* Zones already recorded since the log's BASE: a bitmap per (inode, 32768-zone chunk); reset with
 * the log. */
struct zchunk {
	struct zchunk *next;
	dev_t dev;
	ino_t ino;
	uint64_t chunk;
	uint8_t bits[4096];
};
#define ZBUCKETS 4096
static struct zchunk *g_zones[ZBUCKETS];

static int zone_mark(dev_t d, ino_t i, uint64_t z)
{
	uint64_t c = z >> 15;
	unsigned s = (unsigned)(((i * 31 + c) * 0x9E3779B97F4A7C15ull) >> 40) % ZBUCKETS;
	struct zchunk *e = g_zones[s];
	while (e && !(e->dev == d && e->ino == i && e->chunk == c)) e = e->next;
	if (!e) {
		e = calloc(1, sizeof *e);
		e->dev = d;
		e->ino = i;
		e->chunk = c;
		e->next = g_zones[s];
		g_zones[s] = e;
	}
	unsigned b = (unsigned)(z & 32767);
	if (e->bits[b >> 3] & (1u << (b & 7))) return 0;
	e->bits[b >> 3] |= (uint8_t)(1u << (b & 7));
	return 1;
}

static void zones_reset_locked(void)
{
	for (int s = 0; s < ZBUCKETS; s++)
		while (g_zones[s]) {
			struct zchunk *e = g_zones[s];
			g_zones[s] = e->next;
			free(e);
		}
}

/* Records a data change of [off, off+len) of inode n: one line "W path off len" covering the zones
 * not yet recorded since BASE (nothing when all were).
 *
 * ORDERING: callers append this record only AFTER the local write has completed. A resync reads
 * the log, then copies the recorded zones under the per-inode lock; were the record appended
 * before the local write, the resync could copy the zone's old content and the write would be
 * lost on the secondary. With the record after the write, any resync that sees the record reads
 * the zone after the write. A resync that reads the log before the record is appended cannot
 * miss it either: mirror_go_live() takes g_live_rw for writing, and every unmirrored mutating
 * operation holds it for reading from before its local write until after its record, so the
 * resync's final read of the log (at the switch) contains every such record, and every later
 * operation goes to the mirror itself. */
static void clog_data(struct pinode *n, uint64_t off, uint64_t len)
{
	if (!len) return;
	char p[PATHCAP], e[3 * PATHCAP];
	uint64_t z0 = off / g_zone, z1 = (off + len - 1) / g_zone, first = UINT64_MAX, last = 0;
	pthread_mutex_lock(&g_log_mu);
	for (uint64_t z = z0; z <= z1; z++)
		if (zone_mark(n->dev, n->ino, z)) {
			if (first == UINT64_MAX) first = z;
			last = z;
		}
	pthread_mutex_unlock(&g_log_mu);
	if (first == UINT64_MAX) return;
	if (get_path(n, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)n->ino);
	clog_escape(e, sizeof e, *p ? p : ".");
	clog_line("W %s %llu %llu", e, (unsigned long long)(first * g_zone), (unsigned long long)((last - first + 1) * g_zone));
}

static void clog_trunc(struct pinode *n, uint64_t size)
{
	char p[PATHCAP], e[3 * PATHCAP];
	if (get_path(n, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)n->ino);
	clog_escape(e, sizeof e, p);
	clog_line("T %s %llu", e, (unsigned long long)size);
}

static void clog_meta(struct pinode *n, const char *what)
{
	char p[PATHCAP];
	if (get_path(n, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)n->ino);
	clog_ns(what, p, NULL);
}

static int path_excl(const char *path, int isdir);

/* Activity-log ticket for a data change of `in` (see activity.c); nothing for an excluded path.
 * `range`: a range record (len 0: to the end of the file) instead of extents. */
static void al_begin(struct al_ticket *t, struct pinode *in, uint64_t off, uint64_t len, int range)
{
	memset(t, 0, sizeof *t);
	if (!al_enabled()) return;
	al_op_enter(t); /* before the path is taken */
	char p[PATHCAP];
	if (get_path(in, p, sizeof p) < 0) snprintf(p, sizeof p, "?ino=%llu", (unsigned long long)in->ino);
	else if (path_excl(p, 0)) return;
	if (range) {
		al_range_begin(t, p, off, len);
		return;
	}
	struct stat st;
	uint64_t size = UINT64_MAX;
	if (off + len <= al_small_bytes() && fstatat(in->fd, "", &st, AT_EMPTY_PATH) == 0) size = (uint64_t)st.st_size;
	al_write_begin(t, p, off, len, size);
}

/* The log file was replaced (reset, compaction) by the one `fd` appends to; g_log_mu held. */
static void clog_swapped_locked(int fd)
{
	close(g_log_fd);
	g_log_fd = fd;
	g_log_gen++;
	g_log_unsynced = 0; /* the new file was fsync'ed whole */
}

/* New log "BASE gen" (+ OPEN: this daemon is running), durably; the zone marks start over. */
static int clog_reset(const char *gen)
{
	char extra[64];
	snprintf(extra, sizeof extra, "OPEN %lld%s\n", (long long)time(NULL), al_enabled() ? " al" : "");
	pthread_mutex_lock(&g_log_mu);
	int fd = -1;
	int r = hr_log_reset(g_changelog_path, gen, extra, &fd);
	if (!r) {
		clog_swapped_locked(fd);
		zones_reset_locked();
		g_log_records = 0;
		snprintf(g_base, sizeof g_base, "%s", gen);
	}
	pthread_mutex_unlock(&g_log_mu);
	return r;
}

/* Activity-log checkpoint (activity.c): the current session's part of the log (after its last
 * OPEN) is rewritten. Its records before offset `at` (the checkpoint's snapshot): A/D dropped (the
 * set's, `set`, are appended instead), X/R dropped if `drop_ranges`, the others kept; everything
 * from `at` on kept as it is. Earlier sessions are kept verbatim: a crashed session's records are
 * still owed to the peer. Not while a reintegration runs (it reads the log by offset). Atomic:
 * temporary file, fsync, rename, fsync of the directory; appends wait meanwhile. */
void clog_compact(const char *set, size_t setlen, off_t at, uint64_t gen, int drop_ranges)
{
	pthread_mutex_lock(&g_mu);
	if (g_resync_busy || (g_mir != MIR_NONE && g_mir != MIR_INSYNC)) {
		pthread_mutex_unlock(&g_mu);
		return;
	}
	pthread_mutex_lock(&g_log_mu);
	if (gen != g_log_gen) { /* replaced since the snapshot (a reset): the snapshot says nothing of it */
		pthread_mutex_unlock(&g_log_mu);
		pthread_mutex_unlock(&g_mu);
		return;
	}
	size_t len = 0;
	char *old = clog_read(0, &len);
	char *out = old ? malloc(len + setlen + 1) : NULL;
	if (out && (size_t)at <= len) {
		char *last_open = NULL;
		for (char *l = old; l < old + at && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : old + len)
			if (!strncmp(l, "OPEN ", 5)) last_open = l;
		char *keep_end = last_open && strchr(last_open, '\n') ? strchr(last_open, '\n') + 1 : old;
		size_t o = (size_t)(keep_end - old);
		memcpy(out, old, o);
		for (char *l = keep_end; l < old + at;) {
			char *e = memchr(l, '\n', (size_t)(old + at - l));
			if (!e) break;
			size_t n = (size_t)(e - l) + 1;
			int act = l[1] == ' ' && (l[0] == 'A' || l[0] == 'D'), range = l[1] == ' ' && (l[0] == 'X' || l[0] == 'R');
			if (!act && !(range && drop_ranges)) memcpy(out + o, l, n), o += n;
			l = e + 1;
		}
		memcpy(out + o, old + at, len - (size_t)at); /* appended since the snapshot */
		o += len - (size_t)at;
		memcpy(out + o, set, setlen);
		o += setlen;
		int fd = -1;
		int r = hr_file_replace(g_changelog_path, out, o, &fd);
		if (!r) {
			clog_swapped_locked(fd);
		} else {
			fprintf(stderr, "hamod-repl: change log compaction: %s\n", strerror(-r));
		}
	}
	free(out);
	free(old);
	pthread_mutex_unlock(&g_log_mu);
	pthread_mutex_unlock(&g_mu);
}

/* Renames made while a reintegration runs (mirrored live, so in no log): its data list names
 * files by path, and a file renamed before its turn would be looked for under its old name. */
struct ren_note {
	struct ren_note *next;
	int exchange;
	char from[]; /* then the target */
};
static pthread_mutex_t g_ren_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ren_note *g_ren_head, **g_ren_tail = &g_ren_head;

static void note_rename(const char *from, const char *to, int exchange)
{
	if (!g_resync_busy) return;
	size_t lf = strlen(from) + 1, lt = strlen(to) + 1;
	struct ren_note *n = malloc(sizeof *n + lf + lt);
	n->next = NULL;
	n->exchange = exchange;
	memcpy(n->from, from, lf);
	memcpy(n->from + lf, to, lt);
	pthread_mutex_lock(&g_ren_mu);
	*g_ren_tail = n;
	g_ren_tail = &n->next;
	pthread_mutex_unlock(&g_ren_mu);
}

void resync_renames(void (*apply)(void *, const char *, const char *, int), void *arg)
{
	pthread_mutex_lock(&g_ren_mu);
	struct ren_note *n = g_ren_head;
	g_ren_head = NULL;
	g_ren_tail = &g_ren_head;
	pthread_mutex_unlock(&g_ren_mu);
	while (n) {
		struct ren_note *x = n->next;
		if (apply) apply(arg, n->from, n->from + strlen(n->from) + 1, n->exchange);
		free(n);
		n = x;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* mirror: failure, requests */

static void set_alone_locked(const char *gen, const char *reason)
{
	snprintf(g_gen, sizeof g_gen, "%s", gen);
	if (g_hold && strcmp(g_hold_gen, gen) != 0) g_hold = 0;
	clog_line("ALONE %lld %s %s", (long long)time(NULL), gen, reason);
	clog_sync(); /* durable before any operation goes on alone */
	g_mode = MODE_ALONE;
	pthread_cond_broadcast(&g_mode_cv);
}

void mirror_fail(uint64_t ep, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	for (char *p = reason; *p; p++)
		if (*p == '\n') *p = ' ';
	pthread_mutex_lock(&g_mu);
	if (ep != g_epoch || g_mir == MIR_NONE) {
		pthread_mutex_unlock(&g_mu);
		return;
	}
	int was = g_mir;
	g_mir = MIR_NONE;
	for (int i = 0; i <= g_nconns; i++) {
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
	snprintf(g_last_reason, sizeof g_last_reason, "%.255s", reason);
	if (was == MIR_INSYNC) {
		g_oos_reported = 1;
		if (g_auto_alone) {
			set_alone_locked("auto", reason);
			ev("STATE alone %s", reason);
		} else {
			if (g_mode != MODE_OFF && strncmp(reason, "detached", 8) != 0) {
				g_hold = 1;
				snprintf(g_hold_gen, sizeof g_hold_gen, "%s", g_gen);
			}
			ev("OUTOFSYNC %s", reason);
		}
	} else {
		ev("RESYNCFAILED %s", reason);
	}
	pthread_cond_broadcast(&g_mode_cv);
	pthread_mutex_unlock(&g_mu);
}

/* ACKs are read by the waiting threads themselves (leader/follower): the first waiter of a
 * connection becomes its reader, completes whichever waiter each ACK belongs to, and hands the
 * reader role over when its own ACK has come. With one request in flight (iodepth 1) the thread
 * that sent the request reads its own answer: no thread handoff, one wakeup less per operation. */
static int read_one_ack(struct pconn *c)
{
	struct hr_hdr h;
	if (hr_recv(&c->ch, &h, c->rx, HR_MAX_PAYLOAD) < 0) return -1;
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
			w->ack = h;
			if (w->rbuf) {
				w->rlen = h.paylen < w->rcap ? h.paylen : w->rcap;
				memcpy(w->rbuf, c->rx, w->rlen);
			}
			w->done = 1;
			pthread_cond_signal(&w->cv);
			break;
		}
	pthread_mutex_unlock(&c->pmu);
	return 0;
}

/* Sends a request; returns 0 when sent (wait for it with rpc_wait), -1 when not sent (no live
 * mirror). ep == 0: an application operation (needs a live mirror: RESYNC or INSYNC); else a
 * resync request of that epoch. w == NULL: fire and forget (the ACK is dropped). */
static int rpc_start(struct waiter *w, int ci, struct hr_hdr *h, const struct iovec *pay, int npay, uint64_t ep)
{
	int app = ep == 0;
	if (app ? g_mir < MIR_RESYNC : !mirror_alive(ep)) return -1;
	if (app) ep = g_epoch;
	struct pconn *c = &g_conns[ci];
	pthread_mutex_lock(&c->smu);
	h->seq = ++c->seq;
	pthread_mutex_lock(&c->pmu);
	if (!c->up || g_epoch != ep || (app ? g_mir < MIR_RESYNC : g_mir == MIR_NONE)) {
		pthread_mutex_unlock(&c->pmu);
		pthread_mutex_unlock(&c->smu);
		return -1;
	}
	if (w) {
		w->seq = h->seq;
		w->ep = ep;
		w->done = w->lost = 0;
		w->res = 0;
		pthread_cond_init(&w->cv, &g_cvattr);
		w->next = c->pending;
		c->pending = w;
	}
	pthread_mutex_unlock(&c->pmu);
	int r = hr_send(&c->ch, h, pay, npay);
	pthread_mutex_unlock(&c->smu);
	if (!app) {
		uint64_t b = sizeof *h + HR_MAC_LEN;
		for (int i = 0; i < npay; i++) b += pay[i].iov_len;
		g_rs_sent += b;
	}
	if (r < 0) {
		mirror_fail(ep, "send on connection %d: %s", ci, strerror(errno)); /* marks w lost */
		return w ? 0 : -1; /* rpc_wait sees lost */
	}
	return 0;
}

/* Waits for the ACK: 0 with *res = the secondary's result, or -1 when lost (mirror detached). */
static int rpc_wait(struct waiter *w, int ci, int *res, int timeout_ms)
{
	struct pconn *c = &g_conns[ci];
	struct timespec dl;
	if (timeout_ms <= 0) timeout_ms = g_timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->pmu);
	int timed_out = 0, ioerr = 0;
	uint64_t t_start = hr_now_ns();
	while (!w->done) {
		if (!c->reading && g_epoch == w->ep && g_mir != MIR_NONE) {
			c->reading = 1;
			pthread_mutex_unlock(&c->pmu);
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long ms = (dl.tv_sec - now.tv_sec) * 1000L + (dl.tv_nsec - now.tv_nsec) / 1000000L;
			struct pollfd p = {.fd = c->ch.fd, .events = POLLIN};
			/* Adaptive ACK polling: when this lane's ACKs have recently come within
			 * --ack-spin-us, poll a little longer than they took (a sleeping thread costs a
			 * wakeup, tens of microseconds on a VM); slow answers (fsync of much data) get
			 * the short --spin-us poll only. */
			int spin = g_spin_us;
			if (spin > 0) {
				unsigned ew = atomic_load_explicit(&c->ack_ewma_ns, memory_order_relaxed) / 1000u;
				if (ew <= (unsigned)g_ack_spin_us) {
					int s2 = (int)(ew + ew / 4 + 10);
					if (s2 > g_ack_spin_us) s2 = g_ack_spin_us;
					if (s2 > spin) spin = s2;
				}
				uint64_t el = (hr_now_ns() - t_start) / 1000u;
				spin = el < (uint64_t)spin ? spin - (int)el : 0;
			}
			int pr = ms > 0 ? (hr_spin_readable(c->ch.fd, spin) ? 1 : poll(&p, 1, (int)(ms < 200 ? ms : 200))) : 0;
			if (pr == 1 && read_one_ack(c) < 0) ioerr = errno ? errno : EIO;
			else if (pr < 0 && errno != EINTR) ioerr = errno;
			if (pr == 1 && !ioerr && w->done) {
				unsigned smp = (unsigned)((hr_now_ns() - t_start) > 100000000u ? 100000000u : hr_now_ns() - t_start);
				unsigned old = atomic_load_explicit(&c->ack_ewma_ns, memory_order_relaxed);
				atomic_store_explicit(&c->ack_ewma_ns, old - old / 8 + smp / 8, memory_order_relaxed);
			}
			pthread_mutex_lock(&c->pmu);
			c->reading = 0;
			if (c->pending) pthread_cond_signal(&c->pending->cv); /* someone else may read now */
			if (ioerr) break;
			if (pr == 0 && !w->done && ms <= 200) {
				timed_out = 1;
				break;
			}
			continue;
		}
		struct timespec sl;
		clock_gettime(CLOCK_MONOTONIC, &sl);
		sl.tv_nsec += 200000000L; /* re-check who reads now and then */
		if (sl.tv_nsec >= 1000000000L) sl.tv_sec++, sl.tv_nsec -= 1000000000L;
		if (sl.tv_sec > dl.tv_sec || (sl.tv_sec == dl.tv_sec && sl.tv_nsec > dl.tv_nsec)) sl = dl;
		if (pthread_cond_timedwait(&w->cv, &c->pmu, &sl) == ETIMEDOUT && !w->done) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > dl.tv_sec || (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec)) {
				timed_out = 1;
				break;
			}
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
	if (ioerr) mirror_fail(w->ep, "connection %d lost: %s", ci, strerror(ioerr));
	else if (timed_out) mirror_fail(w->ep, "timeout: no answer from the secondary within %d ms", timeout_ms);
	return lost ? -1 : 0;
}

int mirror_call(uint64_t ep, int ci, struct hr_hdr *h, const struct iovec *pay, int npay, char *rbuf, size_t rcap,
		size_t *rlen, struct hr_hdr *ack, int timeout_ms)
{
	struct waiter w = {.rbuf = rbuf, .rcap = rcap};
	int res;
	if (rpc_start(&w, ci, h, pay, npay, ep) < 0) return -1;
	if (rpc_wait(&w, ci, &res, timeout_ms) < 0) return -1;
	if (rlen) *rlen = w.rlen;
	if (ack) *ack = w.ack;
	return 0;
}

void *mirror_start(uint64_t ep, int ci, struct hr_hdr *h, const struct iovec *pay, int npay, char *rbuf, size_t rcap)
{
	struct waiter *w = calloc(1, sizeof *w);
	w->rbuf = rbuf;
	w->rcap = rcap;
	if (rpc_start(w, ci, h, pay, npay, ep) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

int mirror_finish(void *req, int ci, size_t *rlen, struct hr_hdr *ack, int timeout_ms)
{
	struct waiter *w = req;
	int res, r = rpc_wait(w, ci, &res, timeout_ms);
	if (r == 0) {
		if (rlen) *rlen = w->rlen;
		if (ack) *ack = w->ack;
	}
	free(w);
	return r;
}

int mirror_post(uint64_t ep, int ci, struct hr_hdr *h, const struct iovec *pay, int npay)
{
	return rpc_start(NULL, ci, h, pay, npay, ep);
}

/* Heartbeat: a PING on every lane every timeout/3 ms while a mirror is live, so that a peer lost
 * while the application is idle is noticed (and reported) within the timeout too. */
static void *heartbeat_thread(void *a)
{
	(void)a;
	int period = g_timeout_ms / 3 > 50 ? g_timeout_ms / 3 : 50;
	for (;;) {
		usleep((useconds_t)period * 1000);
		for (int i = 0; i < g_nconns && g_mir >= MIR_RESYNC; i++) {
			struct hr_hdr h = {.op = OP_PING};
			struct waiter w = {0};
			int res;
			if (rpc_start(&w, i, &h, NULL, 0, 0) == 0) rpc_wait(&w, i, &res, 0);
		}
	}
	return NULL;
}

/* Completes a replicated application operation: sent = rpc_start's result, lres = local result.
 * Returns 1 when the mirror applied it identically, 0 otherwise (not sent, lost, diverged). */
static int rpc_finish(int sent, struct waiter *w, int ci, int lres, const char *opname)
{
	int rres = 0;
	if (sent < 0) return 0;
	if (rpc_wait(w, ci, &rres, 0) < 0) return 0;
	if (rres != lres) {
		mirror_fail(w->ep, "diverged: %s local=%d remote=%d (%s)", opname, lres, rres, strerror(rres < 0 ? -rres : rres));
		return 0;
	}
	return 1;
}

int data_lane(ino_t i)
{
	return g_nconns > 1 ? 1 + (int)(i % (ino_t)(g_nconns - 1)) : 0;
}

static int data_conn(struct pinode *n)
{
	return data_lane(n->ino);
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

static int path_excl(const char *path, int isdir)
{
	return hr_filter_active() && hr_path_excluded(path, isdir);
}

static int pf_remote(struct pfile *pf)
{
	return !pf->excl && pf->rid && pf->rep == g_epoch && g_mir >= MIR_RESYNC;
}

#define LOCAL_STRIP (O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_DIRECT)
#define REMOTE_STRIP (O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_DIRECT)

/* A file opened while no mirror was live (or under an earlier mirror) gets a handle on the current
 * mirror when it is first written, synced or changed by handle while a mirror is live (the file
 * exists there: the namespace phase of the reintegration made it so). */
static void ensure_remote(struct pfile *pf)
{
	if (pf->excl || g_mir < MIR_RESYNC || (pf->rid && pf->rep == g_epoch)) return;
	char path[PATHCAP];
	pthread_mutex_lock(&g_nsmu);
	uint64_t ep = g_epoch;
	if (g_mir < MIR_RESYNC || (pf->rid && pf->rep == ep)) {
		pthread_mutex_unlock(&g_nsmu);
		return;
	}
	if (get_path(pf->in, path, sizeof path) < 0) {
		pthread_mutex_unlock(&g_nsmu);
		struct stat st;
		if (fstat(pf->fd, &st) == 0 && st.st_nlink == 0) pf->excl = 1; /* unlinked: nothing to mirror */
		else mirror_fail(ep, "write to a file without a known path (ino %llu)", (unsigned long long)pf->in->ino);
		return;
	}
	if (path_excl(path, 0)) {
		pthread_mutex_unlock(&g_nsmu);
		pf->excl = 1;
		return;
	}
	struct hr_hdr h = {.op = OP_OPEN, .mode = (uint32_t)(pf->flags & ~(REMOTE_STRIP | O_TRUNC))};
	struct iovec pv[1];
	int npv = 0;
	struct waiter w;
	uint64_t rid = next_rid();
	h.fh = rid;
	hdr_paths(&h, pv, &npv, path, NULL);
	int sent = rpc_start(&w, 0, &h, pv, npv, 0);
	pthread_mutex_unlock(&g_nsmu);
	int res;
	if (sent == 0 && rpc_wait(&w, 0, &res, 0) == 0) {
		if (res == 0) {
			pf->rid = rid;
			pf->rep = w.ep;
		} else {
			mirror_fail(w.ep, "open of %s on the secondary: %s", path, strerror(-res));
		}
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

/* The end of every mutating operation: records it when the mirror did not acknowledge it
 * (done by the caller before), leaves the live section, and holds it when needed. Returns the
 * result to answer. */
static int wants_write_flags(int flags);

static int op_end(int acked, int res)
{
	live_un();
	if (!acked) {
		int g = ack_gate();
		if (g) return g;
	}
	return res;
}

/* Where a truncation to `size` changes the file: the smaller of the old and the new size. */
static uint64_t trunc_from(struct pinode *in, uint64_t size)
{
	struct stat st;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) == 0 && (uint64_t)st.st_size < size) return (uint64_t)st.st_size;
	return size;
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
	if (v) {
		int g = gate_enter();
		if (g) {
			fuse_reply_err(req, -g);
			return;
		}
	}

	char path[PATHCAP], proc[64];
	struct iovec pv[2];
	int npv = 0, ci, sent = -1, excl = 0;
	struct waiter w;
	int by_fh = pf && wants_write_flags(pf->flags);
	if (by_fh) ensure_remote(pf);
	struct al_ticket at;
	memset(&at, 0, sizeof at);
	if (by_fh) {
		ci = data_conn(in);
		live_rd();
		if ((v & HR_SA_SIZE) && !pf->excl) al_begin(&at, in, trunc_from(in, (uint64_t)h.off), 0, 1);
		pthread_mutex_lock(WMU(in));
		excl = pf->excl;
		if (v && pf_remote(pf)) {
			h.fh = pf->rid;
			sent = rpc_start(&w, ci, &h, pv, npv, 0);
		}
	} else {
		ci = 0;
		pthread_mutex_lock(&g_nsmu);
		live_rd();
		if (v & HR_SA_SIZE) al_begin(&at, in, trunc_from(in, (uint64_t)h.off), 0, 1);
		if (v & HR_SA_SIZE) pthread_mutex_lock(WMU(in)); /* ordered with a resync copying this file */
		if (v) {
			if (get_path(in, path, sizeof path) >= 0) {
				if (!(excl = path_excl(path, 0))) {
					hdr_paths(&h, pv, &npv, path, NULL);
					sent = rpc_start(&w, ci, &h, pv, npv, 0);
				}
			} else if (g_mir >= MIR_RESYNC) {
				mirror_fail(g_epoch, "setattr on an inode without a known path (ino %llu)", (unsigned long long)in->ino);
			}
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
	if (by_fh) {
		pthread_mutex_unlock(WMU(in));
	} else {
		if (v & HR_SA_SIZE) pthread_mutex_unlock(WMU(in));
		pthread_mutex_unlock(&g_nsmu);
	}
	int acked = !v || excl || rpc_finish(sent, &w, ci, res, "setattr");
	if (!acked && (sent == 0 || res == 0)) {
		if (v & HR_SA_SIZE) clog_trunc(in, (uint64_t)h.off);
		clog_meta(in, "setattr");
	}
	al_write_end(&at);
	if (v) res = op_end(acked, res);
	else live_un();
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

/* Namespace operation prologue: gate, namespace mutex, live section, path(s); sends the frame
 * unless the path is excluded or unknown. Returns the gate's error (nothing locked) or 0. */
struct nsop {
	char p1[PATHCAP], p2[PATHCAP];
	int r1, r2, sent, excl;
	struct waiter w;
};

static int ns_begin(struct nsop *o)
{
	int g = gate_enter();
	if (g) return g;
	o->sent = -1;
	o->excl = 0;
	pthread_mutex_lock(&g_nsmu);
	live_rd();
	return 0;
}

static void ns_send(struct nsop *o, struct hr_hdr *h, const char *p2, const void *data, size_t dlen)
{
	struct iovec pv[3];
	int npv = 0;
	if (o->r1 < 0 || (p2 && o->r2 < 0)) {
		if (g_mir >= MIR_RESYNC) mirror_fail(g_epoch, "%s in a directory without a known path", hr_op_names[h->op]);
		return;
	}
	hdr_paths(h, pv, &npv, o->p1, p2);
	if (data) pv[npv++] = (struct iovec){(void *)data, dlen};
	o->sent = rpc_start(&o->w, 0, h, pv, npv, 0);
}

/* Epilogue: after the local syscall, with g_nsmu still held. Returns the result to answer. */
static int ns_end(struct nsop *o, int res, const char *op, const char *logp1, const char *logp2)
{
	pthread_mutex_unlock(&g_nsmu);
	int acked = o->excl || rpc_finish(o->sent, &o->w, 0, res, op);
	if (!acked && (o->sent == 0 || res == 0)) clog_ns(op, logp1, logp2);
	return op_end(acked, res);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		      const char *link)
{
	struct pinode *dir = IN(parent);
	uid_t u;
	gid_t g;
	uint64_t t0 = hr_now_ns();
	new_owner(req, dir, &u, &g, &mode);
	int op = link ? OP_SYMLINK : S_ISDIR(mode) ? OP_MKDIR : OP_MKNOD;
	struct hr_hdr h = {.op = (uint16_t)op, .mode = mode, .uid = u, .gid = g, .rdev = rdev};
	struct fuse_entry_param e;
	struct nsop o;
	int gr = ns_begin(&o);
	if (gr) {
		fuse_reply_err(req, -gr);
		return;
	}
	o.r1 = child_path(dir, name, o.p1, sizeof o.p1);
	o.excl = o.r1 >= 0 && path_excl(o.p1, S_ISDIR(mode));
	if (!o.excl) ns_send(&o, &h, link, NULL, 0);
	int res;
	if (op == OP_SYMLINK) res = symlinkat(link, dir->fd, name);
	else if (op == OP_MKDIR) res = mkdirat(dir->fd, name, mode & 07777);
	else res = mknodat(dir->fd, name, mode, rdev);
	res = res < 0 ? -errno : 0;
	if (!res && fchownat(dir->fd, name, u, g, AT_SYMLINK_NOFOLLOW) < 0) res = -errno;
	if (!res && op != OP_SYMLINK) {
		int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		char proc[64];
		proc_path(proc, sizeof proc, fd);
		if (fd < 0 || chmod(proc, mode & 07777) < 0) res = -errno;
		if (fd >= 0) close(fd);
	}
	int lerr = res ? -res : do_lookup(dir, name, &e);
	res = ns_end(&o, res, hr_op_names[op], o.r1 >= 0 ? o.p1 : name, link);
	st_ops_n++;
	st_ops_ns += hr_now_ns() - t0;
	if (res) fuse_reply_err(req, -res);
	else if (lerr) fuse_reply_err(req, lerr);
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
	int op = is_dir ? OP_RMDIR : OP_UNLINK;
	struct hr_hdr h = {.op = (uint16_t)op};
	uint64_t t0 = hr_now_ns();
	struct nsop o;
	int gr = ns_begin(&o);
	if (gr) {
		fuse_reply_err(req, -gr);
		return;
	}
	o.r1 = child_path(dir, name, o.p1, sizeof o.p1);
	o.excl = o.r1 >= 0 && path_excl(o.p1, is_dir);
	if (!o.excl) ns_send(&o, &h, NULL, NULL, 0);
	pthread_mutex_lock(&g_tmu);
	struct pinode *victim = find_child_locked(dir, name);
	pthread_mutex_unlock(&g_tmu);
	int res = unlinkat(dir->fd, name, is_dir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
	if (!res) {
		pthread_mutex_lock(&g_tmu);
		if (victim) clear_name_locked(victim, dir, name);
		pthread_mutex_unlock(&g_tmu);
	}
	res = ns_end(&o, res, hr_op_names[op], o.r1 >= 0 ? o.p1 : name, NULL);
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

/* Rename/link between an excluded and a replicated path: refused with EXDEV (applications such as
 * mv then copy), the namespace operation ended. 1 when refused; else o->excl says whether the
 * operation stays local. */
static int ns_boundary(fuse_req_t req, struct nsop *o, int isdir)
{
	int x1 = path_excl(o->p1, isdir), x2 = path_excl(o->p2, isdir);
	if (x1 != x2) {
		pthread_mutex_unlock(&g_nsmu);
		live_un();
		fuse_reply_err(req, EXDEV);
		return 1;
	}
	o->excl = x1;
	return 0;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct pinode *d1 = IN(parent), *d2 = IN(newparent);
	struct hr_hdr h = {.op = OP_RENAME, .len = flags};
	struct nsop o;
	int gr = ns_begin(&o);
	if (gr) {
		fuse_reply_err(req, -gr);
		return;
	}
	o.r1 = child_path(d1, name, o.p1, sizeof o.p1);
	o.r2 = child_path(d2, newname, o.p2, sizeof o.p2);
	if (hr_filter_active() && o.r1 >= 0 && o.r2 >= 0) {
		struct stat st;
		int isdir = fstatat(d1->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		if (ns_boundary(req, &o, isdir)) return;
	}
	struct al_ticket at;
	memset(&at, 0, sizeof at);
	if (!o.excl && o.r1 >= 0 && o.r2 >= 0) al_rename_begin(&at, o.p1, o.p2, !!(flags & RENAME_EXCHANGE));
	if (!o.excl) ns_send(&o, &h, o.p2, NULL, 0);
	pthread_mutex_lock(&g_tmu);
	struct pinode *src = find_child_locked(d1, name), *dst = find_child_locked(d2, newname);
	pthread_mutex_unlock(&g_tmu);
	int res = renameat2(d1->fd, name, d2->fd, newname, flags) < 0 ? -errno : 0;
	if (!res && !o.excl && o.r1 >= 0 && o.r2 >= 0) note_rename(o.p1, o.p2, !!(flags & RENAME_EXCHANGE)); /* g_nsmu held */
	if (!res) {
		pthread_mutex_lock(&g_tmu);
		if (dst && dst != src) {
			if (flags & RENAME_EXCHANGE) set_name_locked(dst, d1, name);
			else clear_name_locked(dst, d2, newname);
		}
		if (src) set_name_locked(src, d2, newname);
		pthread_mutex_unlock(&g_tmu);
	}
	res = ns_end(&o, res, (flags & RENAME_EXCHANGE) ? "exchange" : "rename", o.r1 >= 0 ? o.p1 : name, o.r2 >= 0 ? o.p2 : newname);
	al_write_end(&at); /* a range ticket (no extent): may end after the live section */
	fuse_reply_err(req, -res);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct pinode *in = IN(ino), *d2 = IN(newparent);
	char proc[64];
	struct hr_hdr h = {.op = OP_LINK};
	struct fuse_entry_param e;
	struct nsop o;
	int gr = ns_begin(&o);
	if (gr) {
		fuse_reply_err(req, -gr);
		return;
	}
	o.r1 = get_path(in, o.p1, sizeof o.p1);
	o.r2 = child_path(d2, newname, o.p2, sizeof o.p2);
	if (hr_filter_active() && o.r1 >= 0 && o.r2 >= 0 && ns_boundary(req, &o, 0)) return;
	struct al_ticket at;
	memset(&at, 0, sizeof at);
	if (!o.excl && o.r1 >= 0 && o.r2 >= 0) al_rename_begin(&at, o.p1, o.p2, 0);
	if (!o.excl) ns_send(&o, &h, o.p2, NULL, 0);
	proc_path(proc, sizeof proc, in->fd);
	int res = linkat(AT_FDCWD, proc, d2->fd, newname, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	int lerr = res ? -res : do_lookup(d2, newname, &e);
	res = ns_end(&o, res, "link", o.r1 >= 0 ? o.p1 : "?", o.r2 >= 0 ? o.p2 : newname);
	al_write_end(&at);
	if (res) fuse_reply_err(req, -res);
	else if (lerr) fuse_reply_err(req, lerr);
	else fuse_reply_entry(req, &e);
}

static int wants_write_flags(int flags)
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

/* Files opened for writing get FOPEN_DIRECT_IO (unless --cached-writes): each write() comes to us
 * as is, without the copy into and allocation of the FUSE page cache (the slowest part of the
 * buffered FUSE write path on the machines measured), and for O_SYNC/O_DSYNC files the kernel does
 * not follow each write with an FSYNC request (the write is already durable on both sides when we
 * answer it): one kernel<->daemon round trip less per write. Cost: no shared writable mmap on
 * such files (ENODEV) until FUSE_DIRECT_IO_ALLOW_MMAP can be negotiated (libfuse >= 3.16), and
 * reads through such an fd go through the daemon. Files opened read-only keep the page cache. */
static void set_cache_mode(struct fuse_file_info *fi, struct pfile *pf)
{
	if ((pf->sync && g_sync_direct) || (g_write_direct && wants_write_flags(pf->flags))) {
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else {
		fi->keep_cache = 1;
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	char proc[64];
	int flags = fi->flags;
	proc_path(proc, sizeof proc, in->fd);
	if (!wants_write_flags(flags)) {
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
	int trunc = !!(flags & O_TRUNC);
	if (!trunc && g_mode == MODE_OFF) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct hr_hdr h = {.op = OP_OPEN, .mode = (uint32_t)(flags & ~REMOTE_STRIP)};
	uint64_t rid = 0, rep = 0;
	struct nsop o;
	if (trunc) {
		int gr = ns_begin(&o);
		if (gr) {
			fuse_reply_err(req, -gr);
			return;
		}
	} else {
		o.sent = -1;
		o.excl = 0;
		pthread_mutex_lock(&g_nsmu);
		live_rd();
	}
	o.r1 = get_path(in, o.p1, sizeof o.p1);
	o.excl = o.r1 >= 0 && path_excl(o.p1, 0);
	struct al_ticket at; /* the truncation recorded before it goes anywhere */
	memset(&at, 0, sizeof at);
	if (trunc && !o.excl) al_begin(&at, in, 0, 0, 1);
	if (!o.excl && o.r1 >= 0 && g_mir >= MIR_RESYNC) {
		rid = h.fh = next_rid();
		ns_send(&o, &h, NULL, NULL, 0);
		rep = o.sent == 0 ? o.w.ep : 0;
	} else if (!o.excl && o.r1 < 0 && g_mir >= MIR_RESYNC) {
		mirror_fail(g_epoch, "open for writing of an inode without a known path");
	}
	if (trunc) pthread_mutex_lock(WMU(in)); /* ordered with a resync copying this file */
	int fd = open(proc, (flags & ~LOCAL_STRIP) | O_CLOEXEC);
	int res = fd < 0 ? -errno : 0;
	if (trunc) pthread_mutex_unlock(WMU(in));
	pthread_mutex_unlock(&g_nsmu);
	if (trunc) atomic_store(&in->dirty_data, 1), atomic_store(&in->dirty_remote, 1);
	int acked = o.excl || rpc_finish(o.sent, &o.w, 0, res, "open");
	if (!acked) {
		rid = 0;
		if (trunc && (o.sent == 0 || res == 0)) clog_trunc(in, 0);
	}
	if (o.sent == 0 && res && rid && acked) { /* opened remotely only: close it there */
		struct hr_hdr r = {.op = OP_RELEASE, .fh = rid};
		rpc_start(NULL, data_conn(in), &r, NULL, 0, 0);
	}
	al_write_end(&at);
	if (trunc) res = op_end(acked, res);
	else live_un();
	if (res) {
		if (fd >= 0) close(fd);
		fuse_reply_err(req, -res);
		return;
	}
	struct pfile *pf = new_pfile(in, fd, flags);
	pf->rid = rid;
	pf->rep = rep;
	pf->excl = o.excl;
	fi->fh = (uintptr_t)pf;
	set_cache_mode(fi, pf);
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct pinode *dir = IN(parent);
	uid_t u;
	gid_t g;
	uint64_t t0 = hr_now_ns();
	new_owner(req, dir, &u, &g, &mode);
	int flags = fi->flags;
	struct hr_hdr h = {.op = OP_CREATE, .mode = mode & 07777, .len = (uint64_t)(flags & ~REMOTE_STRIP), .uid = u, .gid = g};
	struct fuse_entry_param e;
	uint64_t rid = 0, rep = 0;
	struct nsop o;
	int gr = ns_begin(&o);
	if (gr) {
		fuse_reply_err(req, -gr);
		return;
	}
	o.r1 = child_path(dir, name, o.p1, sizeof o.p1);
	o.excl = o.r1 >= 0 && path_excl(o.p1, 0);
	struct al_ticket at;
	memset(&at, 0, sizeof at);
	struct stat est; /* O_TRUNC of a file that exists (namespace operations are serialised here) */
	if ((flags & O_TRUNC) && !o.excl && o.r1 >= 0 && al_enabled() && fstatat(dir->fd, name, &est, AT_SYMLINK_NOFOLLOW) == 0)
		al_range_begin(&at, o.p1, 0, 0);
	if (!o.excl) {
		rid = h.fh = next_rid();
		ns_send(&o, &h, NULL, NULL, 0);
		rep = o.sent == 0 ? o.w.ep : 0;
	}
	int fd = openat(dir->fd, name, (flags & ~(O_APPEND | O_DIRECT | O_NOCTTY)) | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			mode & 07777);
	int res = fd < 0 ? -errno : 0;
	if (!res && (fchown(fd, u, g) < 0 || fchmod(fd, mode & 07777) < 0)) res = -errno;
	int lerr = res ? -res : do_lookup(dir, name, &e);
	pthread_mutex_unlock(&g_nsmu);
	int acked = o.excl || rpc_finish(o.sent, &o.w, 0, res, "create");
	if (!acked) {
		rid = 0;
		if (o.sent == 0 || res == 0) clog_ns("create", o.r1 >= 0 ? o.p1 : name, NULL);
	}
	al_write_end(&at);
	res = op_end(acked, res);
	st_ops_n++;
	st_ops_ns += hr_now_ns() - t0;
	if (res || lerr) {
		if (fd >= 0) close(fd);
		if (o.sent == 0 && rid && acked) {
			struct hr_hdr r = {.op = OP_RELEASE, .fh = rid};
			rpc_start(NULL, data_conn(dir), &r, NULL, 0, 0);
		}
		fuse_reply_err(req, res ? -res : lerr);
		return;
	}
	struct pinode *in = IN(e.ino);
	/* The RELEASE and WRITEs of this file go on its data connection; the CREATE went on 0 and
	 * was acknowledged before any of them can be sent. */
	struct pfile *pf = new_pfile(in, fd, flags);
	pf->rid = rid;
	pf->rep = rep;
	pf->excl = o.excl;
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
	int g = gate_enter();
	if (g) {
		fuse_reply_err(req, -g);
		return;
	}
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
	ensure_remote(pf);
	int ci = data_conn(in), sent = -1;
	struct waiter w;
	struct hr_hdr h = {.op = OP_WRITE, .off = off};
	struct iovec pv[1] = {{(void *)buf, size}};
	live_rd();
	struct al_ticket at;
	if (pf->excl) memset(&at, 0, sizeof at);
	else al_begin(&at, in, (uint64_t)off, size, 0);
	pthread_mutex_lock(WMU(in));
	if (pf_remote(pf)) {
		h.fh = pf->rid;
		sent = rpc_start(&w, ci, &h, pv, 1, 0);
	}
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
	pthread_mutex_unlock(WMU(in));
	t2 = hr_now_ns();
	int acked = pf->excl || rpc_finish(sent, &w, ci, res, "write");
	if (!acked && done) { /* after the local write: see clog_data */
		clog_data(in, (uint64_t)off, done);
		if (pf->sync) clog_sync();
	}
	al_write_end(&at);
	int r2 = op_end(acked, 0);
	uint64_t t3 = hr_now_ns();
	st_w_n++;
	st_w_send += t1 - t0;
	st_w_local += t2 - t1;
	st_w_wait += t3 - t2;
	st_w_total += t3 - t0;
	st_w_last_end = hr_now_ns();
	if (r2) fuse_reply_err(req, -r2);
	else if (done == 0 && res) fuse_reply_err(req, -res);
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
	if (pf_remote(pf)) {
		struct hr_hdr h = {.op = OP_RELEASE, .fh = pf->rid};
		pthread_mutex_lock(WMU(in));
		rpc_start(NULL, data_conn(in), &h, NULL, 0, 0);
		pthread_mutex_unlock(WMU(in));
	}
	close(pf->fd);
	free(pf);
	fuse_reply_err(req, 0);
}

/* fsync/fsyncdir by path (a file not open on the secondary, or a directory): sends `h` for the
 * inode's path on lane 0. Returns rpc_start's result (-1: not sent), -2 for an excluded path. */
static int send_by_path(struct pinode *in, struct hr_hdr *h, struct waiter *w)
{
	char path[PATHCAP];
	struct iovec pv[1];
	int npv = 0, sent = -1;
	pthread_mutex_lock(&g_nsmu);
	if (get_path(in, path, sizeof path) >= 0) {
		if (path_excl(path, 0)) {
			sent = -2; /* local only */
		} else {
			hdr_paths(h, pv, &npv, path, NULL);
			sent = rpc_start(w, 0, h, pv, npv, 0);
		}
	}
	pthread_mutex_unlock(&g_nsmu);
	return sent;
}

/* Whatever the application fsyncs is durable on both sides before it returns: without a live
 * mirror, the change log is made durable instead and the answer passes ack_gate (held in sync
 * mode). */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct pinode *in = IN(ino);
	struct pfile *pf = (struct pfile *)(uintptr_t)fi->fh;
	uint64_t t0 = hr_now_ns();
	st_fsync_n++;
	if (wants_write_flags(pf->flags)) ensure_remote(pf);
	int need_local = atomic_exchange(&in->dirty_data, 0);
	if (!datasync) need_local |= atomic_exchange(&in->dirty_meta, 0);
	int live = g_mir >= MIR_RESYNC && !pf->excl;
	int need_remote = live && atomic_exchange(&in->dirty_remote, 0);
	if (!live) clog_sync();
	if (!need_local && !need_remote && (live || pf->excl || ack_gate() == 0)) {
		st_fsync_fast++; /* everything already durable on both sides */
		fuse_reply_err(req, 0);
		return;
	}
	struct hr_hdr h = {.op = OP_FSYNC, .flags = datasync ? F_DATASYNC : 0};
	int sent = -1, ci = 0;
	struct waiter w;
	if (need_remote) {
		if (pf_remote(pf)) {
			ci = data_conn(in);
			h.fh = pf->rid;
			pthread_mutex_lock(WMU(in));
			sent = rpc_start(&w, ci, &h, NULL, 0, 0);
			pthread_mutex_unlock(WMU(in));
		} else {
			sent = send_by_path(in, &h, &w);
		}
	}
	int res = 0;
	if (need_local) res = (datasync ? fdatasync(pf->fd) : fsync(pf->fd)) < 0 ? -errno : 0;
	uint64_t t1 = hr_now_ns();
	int acked = pf->excl || (need_remote ? sent == -2 || rpc_finish(sent, &w, ci, res, "fsync") : live);
	if (!acked) {
		atomic_store(&in->dirty_remote, 1);
		clog_sync();
		int gr = ack_gate();
		if (gr) res = gr;
	}
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
	struct waiter w;
	int sent = send_by_path(in, &h, &w);
	int fd = dirfd(d->dp);
	int res = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	if (sent != -2 && !rpc_finish(sent, &w, 0, res, "fsyncdir")) {
		clog_sync();
		int gr = ack_gate();
		if (gr) res = gr;
	}
	fuse_reply_err(req, -res);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs s;
	if (fstatvfs(IN(ino)->fd, &s) < 0) fuse_reply_err(req, errno);
	else fuse_reply_statfs(req, &s);
}

static void xattr_op(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	struct pinode *in = IN(ino);
	char proc[64];
	int set = value != NULL;
	struct hr_hdr h = {.op = set ? OP_SETXATTR : OP_REMOVEXATTR, .len = (uint64_t)flags};
	struct nsop o;
	int gr = ns_begin(&o);
	if (gr) {
		fuse_reply_err(req, -gr);
		return;
	}
	o.r1 = get_path(in, o.p1, sizeof o.p1);
	o.r2 = 0;
	o.excl = o.r1 >= 0 && path_excl(o.p1, 0);
	if (!o.excl) ns_send(&o, &h, name, value, size);
	proc_path(proc, sizeof proc, in->fd);
	int res = in->is_symlink ? -EPERM : (set ? setxattr(proc, name, value, size, flags) : removexattr(proc, name)) < 0 ? -errno : 0;
	atomic_store(&in->dirty_meta, 1);
	atomic_store(&in->dirty_remote, 1);
	res = ns_end(&o, res, set ? "setxattr" : "removexattr", o.r1 >= 0 ? o.p1 : "?", NULL);
	fuse_reply_err(req, -res);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	xattr_op(req, ino, name, value ? value : "", size, flags);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	xattr_op(req, ino, name, NULL, 0, 0);
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
	int g = gate_enter();
	if (g) {
		fuse_reply_err(req, -g);
		return;
	}
	ensure_remote(pf);
	struct hr_hdr h = {.op = OP_FALLOCATE, .mode = (uint32_t)mode, .off = off, .len = (uint64_t)len};
	int ci = data_conn(in), sent = -1;
	struct waiter w;
	atomic_store(&in->dirty_data, 1);
	atomic_store(&in->dirty_meta, 1);
	atomic_store(&in->dirty_remote, 1);
	live_rd();
	struct al_ticket at;
	if (pf->excl) memset(&at, 0, sizeof at);
	else if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) al_begin(&at, in, (uint64_t)off, 0, 1); /* moves data */
	else al_begin(&at, in, (uint64_t)off, (uint64_t)len, 0);
	pthread_mutex_lock(WMU(in));
	if (pf_remote(pf)) {
		h.fh = pf->rid;
		sent = rpc_start(&w, ci, &h, NULL, 0, 0);
	}
	int res = fallocate(pf->fd, mode, off, len) < 0 ? -errno : 0;
	pthread_mutex_unlock(WMU(in));
	int acked = pf->excl || rpc_finish(sent, &w, ci, res, "fallocate");
	if (!acked && (sent == 0 || res == 0)) clog_data(in, (uint64_t)off, (uint64_t)len);
	al_write_end(&at);
	res = op_end(acked, res);
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
/* attaching a mirror */

static int tcp_connect(const char *host, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
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
	/* SO_RCVTIMEO at the timeout: a reader stuck in the middle of a frame gives up too. */
	struct timeval tv = {.tv_sec = g_timeout_ms / 1000, .tv_usec = (g_timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	hr_tune_socket(fd);
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

int mirror_connect(uint64_t ep, const char *host, int port)
{
	uint64_t session;
	hr_fill_random(&session, sizeof session);
	for (int i = 0; i <= g_nconns; i++) {
		struct pconn *c = &g_conns[i];
		for (;;) { /* threads of an earlier mirror still leaving this connection */
			pthread_mutex_lock(&c->pmu);
			int busy = c->reading || c->pending;
			pthread_mutex_unlock(&c->pmu);
			if (!busy) break;
			usleep(1000);
		}
		int fd = tcp_connect(host, port);
		if (fd < 0) return -1;
		struct hr_chan nc = {.fd = -1};
		if (hr_handshake_client(&nc, fd, g_secret, g_secret_len, (uint32_t)i, session) < 0) {
			int e = errno;
			close(fd);
			hr_chan_free(&nc);
			errno = e == EACCES ? EACCES : e;
			return -1;
		}
		pthread_mutex_lock(&c->smu);
		pthread_mutex_lock(&c->pmu);
		if (c->ch.fd >= 0) close(c->ch.fd);
		hr_chan_free(&c->ch);
		c->ch = nc;
		c->seq = 0;
		c->up = 1;
		if (!c->rx) c->rx = malloc(HR_MAX_PAYLOAD);
		pthread_mutex_unlock(&c->pmu);
		pthread_mutex_unlock(&c->smu);
		if (!mirror_alive(ep)) {
			errno = ECANCELED;
			return -1;
		}
	}
	return 0;
}

int mirror_go_live(uint64_t ep, off_t *logsize)
{
	pthread_rwlock_wrlock(&g_live_rw);
	pthread_mutex_lock(&g_mu);
	int ok = mirror_alive(ep) && g_mir == MIR_PREP;
	if (ok) {
		g_mir = MIR_RESYNC;
		*logsize = clog_size();
	}
	pthread_mutex_unlock(&g_mu);
	pthread_rwlock_unlock(&g_live_rw);
	return ok ? 0 : -1;
}

static char g_insync_base[96];

int mirror_go_insync(uint64_t ep)
{
	pthread_rwlock_wrlock(&g_live_rw);
	pthread_mutex_lock(&g_mu);
	int ok = mirror_alive(ep) && g_mir == MIR_RESYNC;
	if (ok) {
		int r = clog_reset(g_insync_base);
		if (r) {
			ok = 0;
			pthread_mutex_unlock(&g_mu);
			pthread_rwlock_unlock(&g_live_rw);
			mirror_fail(ep, "cannot reset the change log: %s", strerror(-r));
			return -1;
		}
		al_reset(); /* the reset log holds none of the set's records */
		g_mir = MIR_INSYNC;
		g_oos_reported = 0;
		ev("INSYNC base=%s", g_insync_base);
		pthread_cond_broadcast(&g_mode_cv);
	}
	pthread_mutex_unlock(&g_mu);
	pthread_rwlock_unlock(&g_live_rw);
	return ok ? 0 : -1;
}

/* The generation the secondary's log is reset to (the resync thread, before RESETLOG). */
const char *resync_base_snapshot(void)
{
	pthread_mutex_lock(&g_mu);
	snprintf(g_insync_base, sizeof g_insync_base, "%s", g_gen);
	pthread_mutex_unlock(&g_mu);
	return g_insync_base;
}

/* ------------------------------------------------------------------------------------------ */
/* control socket */

static char g_ctl_path[108];
static pthread_mutex_t g_ctl_mu = PTHREAD_MUTEX_INITIALIZER;

static int valid_gen(const char *g)
{
	size_t n = strlen(g);
	if (n < 1 || n > 80) return 0;
	for (const char *p = g; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == ':' || *p == '-'))
			return 0;
	return 1;
}

static const char *mir_name(int m)
{
	return m == MIR_NONE ? "none" : m == MIR_INSYNC ? "insync" : "resync";
}

static void ctl_cmd(char *line, char *out, size_t cap)
{
	char *argv[8];
	int argc = 0;
	for (char *s = strtok(line, " \t\r\n"); s && argc < 8; s = strtok(NULL, " \t\r\n")) argv[argc++] = s;
	if (argc == 0) {
		snprintf(out, cap, "ERR empty request");
		return;
	}
	if (!strcmp(argv[0], "STATUS")) {
		pthread_mutex_lock(&g_mu);
		uint64_t cps = 0;
		size_t aln = al_size(&cps);
		snprintf(out, cap, "OK mode=%s gen=%s base=%s mirror=%s done=%llu total=%llu sent=%llu logrecords=%llu clean=%d held=%d "
				   "al=%zu alcheckpoints=%llu",
			 MODE_NAMES[g_mode], g_gen, g_base, mir_name(g_mir), (unsigned long long)g_rs_done,
			 (unsigned long long)g_rs_total, (unsigned long long)g_rs_sent, (unsigned long long)g_log_records,
			 g_log_clean_at_start, (int)g_hold, aln, (unsigned long long)cps);
		pthread_mutex_unlock(&g_mu);
		return;
	}
	if (!strcmp(argv[0], "MODE") && argc >= 2) {
		const char *m = argv[1], *gen = argc >= 3 ? argv[2] : NULL;
		if ((!strcmp(m, "alone") || !strcmp(m, "sync")) && (!gen || !valid_gen(gen))) {
			snprintf(out, cap, "ERR MODE %s needs a generation [A-Za-z0-9._:-]{1,80}", m);
			return;
		}
		int detach = 0;
		pthread_mutex_lock(&g_mu);
		if (!strcmp(m, "off")) {
			g_mode = MODE_OFF;
			g_hold = 0;
			detach = g_mir != MIR_NONE;
		} else if (!strcmp(m, "hold")) {
			g_mode = MODE_HOLD;
		} else if (!strcmp(m, "alone")) {
			set_alone_locked(gen, g_hold ? g_last_reason : "control");
		} else if (!strcmp(m, "sync")) {
			snprintf(g_gen, sizeof g_gen, "%s", gen);
			g_mode = MODE_SYNC;
			if (g_mir == MIR_INSYNC) g_oos_reported = 0;
		} else {
			pthread_mutex_unlock(&g_mu);
			snprintf(out, cap, "ERR unknown mode %s", m);
			return;
		}
		pthread_cond_broadcast(&g_mode_cv);
		uint64_t ep = g_epoch;
		pthread_mutex_unlock(&g_mu);
		if (detach) mirror_fail(ep, "detached (mode off)");
		snprintf(out, cap, "OK mode=%s gen=%s", m, g_gen);
		return;
	}
	if (!strcmp(argv[0], "ATTACH") && argc >= 3) {
		struct resync_req *rq = calloc(1, sizeof *rq);
		if (hr_parse_hostport(argv[1], rq->host, sizeof rq->host, &rq->port) < 0 ||
		    (strcmp(argv[2], "delta") && strcmp(argv[2], "full"))) {
			free(rq);
			snprintf(out, cap, "ERR usage: ATTACH HOST:PORT delta|full [BYTES_PER_S]");
			return;
		}
		rq->full = !strcmp(argv[2], "full");
		rq->bps = argc >= 4 ? strtoull(argv[3], NULL, 10) : 0;
		pthread_mutex_lock(&g_mu);
		if (g_mir != MIR_NONE || g_resync_busy) {
			pthread_mutex_unlock(&g_mu);
			free(rq);
			snprintf(out, cap, "ERR a mirror is attached (DETACH first)");
			return;
		}
		g_resync_busy = 1;
		rq->ep = ++g_epoch;
		g_mir = MIR_PREP;
		g_rs_done = g_rs_total = g_rs_sent = 0;
		pthread_mutex_unlock(&g_mu);
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_create(&t, &at, resync_thread, rq);
		pthread_attr_destroy(&at);
		snprintf(out, cap, "OK");
		return;
	}
	if (!strcmp(argv[0], "DETACH")) {
		mirror_fail(g_epoch, "detached");
		snprintf(out, cap, "OK");
		return;
	}
	snprintf(out, cap, "ERR unknown request");
}

void resync_finished(void)
{
	g_resync_busy = 0;
}

static void *ctl_client(void *a)
{
	int fd = (int)(intptr_t)a;
	FILE *f = fdopen(fd, "r+");
	if (!f) {
		close(fd);
		return NULL;
	}
	char line[1024], out[1024];
	while (fgets(line, sizeof line, f)) {
		pthread_mutex_lock(&g_ctl_mu);
		ctl_cmd(line, out, sizeof out);
		pthread_mutex_unlock(&g_ctl_mu);
		fprintf(f, "%s\n", out);
		fflush(f);
	}
	fclose(f);
	return NULL;
}

static void *ctl_accept(void *a)
{
	int ls = (int)(intptr_t)a;
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			return NULL;
		}
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, ctl_client, (void *)(intptr_t)fd)) close(fd);
		pthread_attr_destroy(&at);
	}
}

static int ctl_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	unlink(path);
	mode_t old = umask(077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	snprintf(g_ctl_path, sizeof g_ctl_path, "%s", path);
	return fd;
}

/* ------------------------------------------------------------------------------------------ */

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
	struct epoll_event ev_ = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev_);
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
			epoll_wait(ep, &ev_, 1, 200);
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

/* Profile dump on SIGUSR1; when the session is ending (SIGTERM), held operations are released
 * with EROFS so that the worker threads can finish. */
static void *stats_thread(void *a)
{
	(void)a;
	while (!g_stats_stop) {
		usleep(100000);
		if (g_dump) {
			g_dump = 0;
			dump_stats();
		}
		if (g_se && fuse_session_exited(g_se) && g_mode != MODE_OFF) {
			pthread_mutex_lock(&g_mu);
			g_mode = MODE_OFF;
			pthread_cond_broadcast(&g_mode_cv);
			pthread_mutex_unlock(&g_mu);
		}
	}
	return NULL;
}

/* Opens the change log (creating "BASE none" when absent or empty), notes its state, appends OPEN. */
static int clog_open(const char *path)
{
	snprintf(g_changelog_path, sizeof g_changelog_path, "%s", path);
	if (hr_log_trim_tail(path) < 0) return -1; /* before anything is appended after a torn line */
	g_log_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (g_log_fd < 0) return -1;
	size_t len = 0;
	char *b = clog_read(0, &len);
	int opens = 0, closes = 0;
	if (!b || len == 0) {
		const char *l = "BASE none\n";
		if (write(g_log_fd, l, strlen(l)) < 0) return -1;
	} else {
		for (char *s = b; *s;) {
			char *e = strchr(s, '\n');
			if (e) *e = 0;
			if (!strncmp(s, "BASE ", 5)) snprintf(g_base, sizeof g_base, "%s", s + 5);
			else if (!strncmp(s, "OPEN ", 5)) opens++;
			else if (!strncmp(s, "CLOSE ", 6)) closes++;
			else if ((s[0] == 'W' || s[0] == 'T' || s[0] == 'N') && s[1] == ' ') g_log_records++;
			if (!e) break;
			s = e + 1;
		}
	}
	free(b);
	/* a receiving session of this log that went down with its machine (secondary.c) */
	char boot[80], last[96];
	hr_boot_id(boot, sizeof boot);
	if (hr_log_lost_session(path, boot, last, sizeof last)) clog_line("LOST %lld %s", (long long)time(NULL), last);
	g_log_clean_at_start = opens <= closes;
	/* "al": this session keeps an activity log (activity.c); a crash of it can be reintegrated
	 * by the recorded zones */
	clog_line("OPEN %lld%s", (long long)time(NULL), al_enabled() ? " al" : "");
	clog_sync();
	return 0;
}

int primary_main(int argc, char **argv)
{
	const char *dir = NULL, *peer = NULL, *keyfile = NULL, *changelog = NULL, *control = NULL, *mode = NULL;
	int threads = 16;
	static struct option lo[] = {{"dir", 1, 0, 'd'},	  {"peer", 1, 0, 'p'},	    {"key-file", 1, 0, 'k'},
				     {"timeout-ms", 1, 0, 't'}, {"changelog", 1, 0, 'c'},  {"conns", 1, 0, 'n'},
				     {"threads", 1, 0, 'T'},	  {"no-sync-direct", 0, 0, 'D'}, {"cached-writes", 0, 0, 'W'},
				     {"spin-us", 1, 0, 'S'},	  {"control", 1, 0, 'C'},   {"mode", 1, 0, 'M'},
				     {"zone-bytes", 1, 0, 'Z'}, {"include", 1, 0, 'I'},   {"exclude", 1, 0, 'X'},
				     {"ack-spin-us", 1, 0, 'A'}, {"al-extents", 1, 0, 'L'}, {"al-extent-bytes", 1, 0, 'E'},
				     {"al-small-bytes", 1, 0, 'B'},
				     {0, 0, 0, 0}};
	long al_extents = 1024;
	unsigned long long al_ext = 4ull << 20, al_small = 64 * 1024;
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
		case 'A': g_ack_spin_us = atoi(optarg); break;
		case 'C': control = optarg; break;
		case 'M': mode = optarg; break;
		case 'Z': g_zone = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'I': hr_filter_add(1, optarg); break;
		case 'X': hr_filter_add(0, optarg); break;
		case 'L': al_extents = strtol(optarg, NULL, 10); break;
		case 'E': al_ext = strtoull(optarg, NULL, 10); break;
		case 'B': al_small = strtoull(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!dir || !keyfile || (!peer && !control) || g_timeout_ms <= 0 || g_nconns < 1 || g_nconns > HR_MAX_CONNS ||
	    g_zone < 512 || g_zone > (1u << 20) || (g_zone & (g_zone - 1)) || al_extents < 0 || al_extents > 1000000 ||
	    al_ext < g_zone || al_ext < (256u << 10) || al_ext > (1ull << 30) || al_ext % g_zone || al_small > al_ext ||
	    (mode && strcmp(mode, "off") && strcmp(mode, "hold"))) {
		fprintf(stderr, "usage: hamod-repl primary --dir D --key-file K (--control SOCK | --peer HOST:PORT) "
				"[--changelog FILE] [--mode off|hold] [--zone-bytes N (power of 2, 512..1M)] [--timeout-ms N] "
				"[--include GLOB]... [--exclude GLOB]... [--conns N] [--threads N] [--cached-writes] "
				"[--no-sync-direct] [--spin-us N] [--ack-spin-us N] [--al-extents N (0: none; default 1024)] "
				"[--al-extent-bytes N (a multiple of the zone, >= 256 KiB, default 4 MiB)] [--al-small-bytes N (default 65536, 0: none)]\n");
		return 2;
	}
	char peer_host[128];
	int peer_port = 0;
	if (peer && hr_parse_hostport(peer, peer_host, sizeof peer_host, &peer_port) < 0) {
		fprintf(stderr, "hamod-repl: bad --peer %s\n", peer);
		return 2;
	}
	if (hr_read_keyfile(keyfile, g_secret, sizeof g_secret, &g_secret_len) < 0) {
		fprintf(stderr, "hamod-repl: key file %s: %s (need >= 16 bytes)\n", keyfile, strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(0); /* the kernel already applied the caller's umask */
	pthread_condattr_init(&g_cvattr);
	pthread_condattr_setclock(&g_cvattr, CLOCK_MONOTONIC);
	pthread_cond_init(&g_mode_cv, &g_cvattr);
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g_live_rw, &rwa);
	for (int i = 0; i < NSTRIPES; i++) pthread_mutex_init(&g_stripes[i], NULL);
	for (int i = 0; i <= HR_MAX_CONNS; i++) {
		pthread_mutex_init(&g_conns[i].smu, NULL);
		pthread_mutex_init(&g_conns[i].pmu, NULL);
		g_conns[i].ch.fd = -1;
	}

	/* The directory fd, opened BEFORE mounting over the directory: everything goes through it. */
	g_root.fd = g_rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat rst;
	if (g_root.fd < 0 || fstat(g_root.fd, &rst) < 0) {
		fprintf(stderr, "hamod-repl: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	g_root.dev = rst.st_dev;
	g_root.ino = rst.st_ino;
	g_root.nlookup = 2;
	g_root.dirty_data = g_root.dirty_meta = g_root.dirty_remote = 1;

	char defl[PATH_MAX + 32];
	if (!changelog) {
		char *d = realpath(dir, NULL);
		snprintf(defl, sizeof defl, "%s.hamod-changes", d ? d : dir);
		free(d);
		changelog = defl;
	}
	al_init((unsigned)al_extents, al_ext, al_small);
	if (clog_open(changelog) < 0) {
		fprintf(stderr, "hamod-repl: change log %s: %s\n", changelog, strerror(errno));
		return 1;
	}
	int ls = -1;
	if (control && (ls = ctl_listen(control)) < 0) {
		fprintf(stderr, "hamod-repl: control socket %s: %s\n", control, strerror(errno));
		return 1;
	}
	g_mode = !mode ? (peer ? MODE_SYNC : MODE_HOLD) : !strcmp(mode, "off") ? MODE_OFF : MODE_HOLD;
	if (peer) {
		/* The old way (tests, benchmark): attached at start, in sync, no resync. Without a control
		 * socket nobody could release held operations: a failure then goes ALONE by itself. */
		g_auto_alone = !control;
		snprintf(g_gen, sizeof g_gen, "%s", "initial");
		g_epoch = 1;
		g_mir = MIR_PREP;
		if (mirror_connect(1, peer_host, peer_port) == 0) {
			g_mir = MIR_INSYNC;
			ev("STATE sync");
		} else {
			char reason[300];
			snprintf(reason, sizeof reason, "cannot connect to %s: %s", peer, strerror(errno));
			g_mir = MIR_NONE;
			if (g_auto_alone) {
				pthread_mutex_lock(&g_mu);
				set_alone_locked("auto", reason);
				pthread_mutex_unlock(&g_mu);
				ev("STATE alone %s", reason);
			} else {
				ev("RESYNCFAILED %s", reason);
			}
		}
	}
	pthread_t hb;
	pthread_create(&hb, NULL, heartbeat_thread, NULL);
	pthread_detach(hb);

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
	g_se = se;
	struct sigaction act = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &act, NULL);
	pthread_t st;
	pthread_create(&st, NULL, stats_thread, NULL);
	if (ls >= 0) {
		pthread_t ct;
		pthread_create(&ct, NULL, ctl_accept, (void *)(intptr_t)ls);
		pthread_detach(ct);
	}
	ev("READY %s", dir);
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
	g_stats_stop = 1;
	pthread_join(st, NULL);
	/* Every operation answered so far was acknowledged by the mirror or recorded: clean. And on
	 * the local disk (a power loss after a clean stop must not lose what CLOSE vouches for). */
	int sfd = openat(g_rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 || syncfs(sfd) < 0) fprintf(stderr, "hamod-repl: syncfs at exit: %s\n", strerror(errno));
	if (sfd >= 0) close(sfd);
	clog_line("CLOSE %lld", (long long)time(NULL));
	clog_sync();
	if (*g_ctl_path) unlink(g_ctl_path);
	dump_stats();
	ev("EXIT %d", r);
	_exit(r < 0 ? 1 : 0); /* > 0: ended by that signal (SIGTERM...) */
}
