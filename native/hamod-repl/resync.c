/* hamod-repl primary: reintegration of a secondary (ATTACH), DRBD-like. See CONTROL.md.
 *
 * 1. connect + handshake; read the secondary's change log (OP_LOGREAD) and ours; delta only when
 *    both are clean, their BASEs are equal (and not "none") and the agent asked for delta.
 * 2. namespace phase, g_nsmu held (application namespace operations wait; data writes go on,
 *    unmirrored, and are recorded): delta replays our namespace records on the secondary and
 *    reconciles every path named by either log; full walks both trees.
 * 3. mirror_go_live(): from here every new mutating operation goes to both sides. The log records
 *    written since step 1 (the "tail") are read and their paths reconciled / zones added.
 * 4. data phase, per file, per chunk, under the file's per-inode write lock: holes of the primary
 *    are punched on the secondary (never filled); delta sends the recorded zones; full compares
 *    SHA-256 per zone (hashed on the secondary) and sends only differing zones; finally the
 *    secondary's size is set to ours under the same lock.
 * 5. times, OP_RESETLOG (syncfs + the secondary's log reset), mirror_go_insync() (our log reset),
 *    INSYNC. Any failure of the mirror: RESYNCFAILED (mirror_fail), the logs stay as they were. */
#define FUSE_USE_VERSION 34
#include "primary.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define LOST (-100000) /* mirror lost: abandon the resync */

/* ---------------------------------------------------------------------------------------- */
/* small containers */

struct range {
	uint64_t a, b;
};

enum { DF_HASH = 1, DF_COPY, DF_ZONES };

struct dfile {
	char *path; /* NULL: dropped */
	int mode;
	int hash; /* DF_ZONES: compare the ranges (SHA-256 per zone) before sending (activity ranges) */
	struct range *r;
	size_t nr, cap;
};

struct strset { /* chained hash of strings -> int value */
	struct snode {
		struct snode *next;
		char *s;
		long v;
	} **b;
	size_t nb, n;
};

static unsigned long shash(const char *s)
{
	unsigned long h = 1469598103934665603ull;
	for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void ss_init(struct strset *t)
{
	t->nb = 4096;
	t->n = 0;
	t->b = calloc(t->nb, sizeof *t->b);
}

static struct snode *ss_find(struct strset *t, const char *s)
{
	for (struct snode *n = t->b[shash(s) % t->nb]; n; n = n->next)
		if (!strcmp(n->s, s)) return n;
	return NULL;
}

static struct snode *ss_put(struct strset *t, const char *s, long v)
{
	struct snode *n = ss_find(t, s);
	if (n) {
		n->v = v;
		return n;
	}
	n = malloc(sizeof *n);
	n->s = strdup(s);
	n->v = v;
	unsigned long h = shash(s) % t->nb;
	n->next = t->b[h];
	t->b[h] = n;
	t->n++;
	return n;
}

static void ss_del(struct strset *t, const char *s)
{
	for (struct snode **pp = &t->b[shash(s) % t->nb]; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->s, s)) {
			struct snode *n = *pp;
			*pp = n->next;
			free(n->s);
			free(n);
			t->n--;
			return;
		}
}

static void ss_free(struct strset *t)
{
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct snode *n = t->b[i];
			t->b[i] = n->next;
			free(n->s);
			free(n);
		}
	free(t->b);
	t->b = NULL;
}

struct u64map { /* open addressing u64 -> u64 (key 0 unused) */
	uint64_t *k, *v;
	size_t cap, n;
};

static void um_put(struct u64map *m, uint64_t k, uint64_t v);

static void um_grow(struct u64map *m)
{
	struct u64map o = *m;
	m->cap = o.cap ? o.cap * 2 : 1024;
	m->n = 0;
	m->k = calloc(m->cap, 8);
	m->v = calloc(m->cap, 8);
	for (size_t i = 0; i < o.cap; i++)
		if (o.k[i]) um_put(m, o.k[i], o.v[i]);
	free(o.k);
	free(o.v);
}

static void um_put(struct u64map *m, uint64_t k, uint64_t v)
{
	if ((m->n + 1) * 2 > m->cap) um_grow(m);
	size_t i = (k * 0x9E3779B97F4A7C15ull) % m->cap;
	while (m->k[i] && m->k[i] != k) i = (i + 1) % m->cap;
	if (!m->k[i]) m->n++;
	m->k[i] = k;
	m->v[i] = v;
}

static int um_get(struct u64map *m, uint64_t k, uint64_t *v)
{
	if (!m->cap) return 0;
	size_t i = (k * 0x9E3779B97F4A7C15ull) % m->cap;
	while (m->k[i]) {
		if (m->k[i] == k) {
			*v = m->v[i];
			return 1;
		}
		i = (i + 1) % m->cap;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* resync context */

struct rs {
	uint64_t ep, bps, t0, last_ev, data_sent;
	int full, delta_failed;
	int walk; /* delta after a crash: the namespace is walked, only recorded zones are sent */
	const char *phase;
	char *rbuf, *buf, *scratch;
	struct dfile *f;
	size_t nf, capf;
	struct strset fidx;   /* path -> index in f */
	struct strset named;  /* paths to reconcile (delta) */
	struct strset timed;  /* paths whose times are set at the end */
	struct strset smalldirs; /* walk: directories whose small files (<= v bytes) are compared */
	struct strset rtrees;    /* walk: renamed paths, everything at and below them compared */
	char **timev;
	size_t ntime, captime;
	/* full walk: hard links */
	struct u64map pino;   /* primary ino -> index+1 in links[] */
	struct u64map sclaim; /* secondary ino -> primary ino */
	struct {
		char *path;
		uint64_t sino;
	} *links;
	size_t nlinks, caplinks;
	int warn;
};

static uint64_t now_ms(void)
{
	return hr_now_ns() / 1000000u;
}

static void progress(struct rs *r, int force)
{
	uint64_t t = now_ms();
	if (!force && t - r->last_ev < 500) return;
	r->last_ev = t;
	ev("RESYNC phase=%s done=%llu total=%llu sent=%llu", r->phase, (unsigned long long)g_rs_done,
	   (unsigned long long)g_rs_total, (unsigned long long)g_rs_sent);
}

/* Token bucket on zone bytes sent (BYTES_PER_S). */
static void throttle(struct rs *r, uint64_t bytes)
{
	r->data_sent += bytes;
	if (!r->bps) return;
	uint64_t el = hr_now_ns() - r->t0;
	uint64_t allowed = (uint64_t)((double)el / 1e9 * (double)r->bps) + CHUNK;
	if (r->data_sent > allowed) {
		uint64_t us = (uint64_t)((double)(r->data_sent - allowed) / (double)r->bps * 1e6);
		while (us > 0 && mirror_alive(r->ep)) {
			uint64_t s = us > 200000 ? 200000 : us;
			usleep((useconds_t)s);
			us -= s;
			progress(r, 0);
		}
	}
}

static struct dfile *df_get(struct rs *r, const char *path, int mode)
{
	struct snode *n = ss_find(&r->fidx, path);
	if (n) {
		struct dfile *f = &r->f[n->v];
		if (mode == DF_COPY || (mode == DF_HASH && f->mode == DF_ZONES)) f->mode = mode;
		return f;
	}
	if (r->nf == r->capf) {
		r->capf = r->capf ? r->capf * 2 : 256;
		r->f = realloc(r->f, r->capf * sizeof *r->f);
	}
	struct dfile *f = &r->f[r->nf];
	memset(f, 0, sizeof *f);
	f->path = strdup(path);
	f->mode = mode;
	ss_put(&r->fidx, path, (long)r->nf);
	r->nf++;
	return f;
}

static void df_range(struct rs *r, const char *path, uint64_t a, uint64_t b)
{
	struct dfile *f = df_get(r, path, DF_ZONES);
	if (f->mode != DF_ZONES || b <= a) return;
	if (f->nr == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->r = realloc(f->r, f->cap * sizeof *f->r);
	}
	f->r[f->nr++] = (struct range){a, b};
}

static void df_drop(struct rs *r, const char *path)
{
	struct snode *n = ss_find(&r->fidx, path);
	if (!n) return;
	struct dfile *f = &r->f[n->v];
	free(f->path);
	free(f->r);
	f->path = NULL;
	f->r = NULL;
	f->nr = f->cap = 0;
	ss_del(&r->fidx, path);
}

static int has_prefix(const char *p, const char *dir)
{
	size_t l = strlen(dir);
	return !strncmp(p, dir, l) && (p[l] == 0 || p[l] == '/');
}

/* Data entries follow a rename (a file or a directory with everything below it). */
static void df_rename(struct rs *r, const char *from, const char *to, int exchange)
{
	size_t lf = strlen(from), lt = strlen(to);
	char np[PATHCAP];
	for (size_t i = 0; i < r->nf; i++) { /* the target's old content is gone (replaced) */
		struct dfile *f = &r->f[i];
		if (!exchange && f->path && has_prefix(f->path, to)) df_drop(r, f->path);
	}
	for (size_t i = 0; i < r->nf; i++) {
		struct dfile *f = &r->f[i];
		if (!f->path) continue;
		const char *src = NULL, *dst = NULL;
		size_t ls = 0;
		if (has_prefix(f->path, from)) src = from, dst = to, ls = lf;
		else if (exchange && has_prefix(f->path, to)) src = to, dst = from, ls = lt;
		if (!src) continue;
		snprintf(np, sizeof np, "%s%s", dst, f->path + ls);
		ss_del(&r->fidx, f->path);
		free(f->path);
		f->path = strdup(np);
		ss_put(&r->fidx, np, (long)i);
	}
}

static void df_unlink(struct rs *r, const char *path)
{
	for (size_t i = 0; i < r->nf; i++)
		if (r->f[i].path && has_prefix(r->f[i].path, path)) df_drop(r, r->f[i].path);
}

static void mark_time(struct rs *r, const char *path)
{
	if (ss_find(&r->timed, path)) return;
	ss_put(&r->timed, path, 0);
	if (r->ntime == r->captime) {
		r->captime = r->captime ? r->captime * 2 : 256;
		r->timev = realloc(r->timev, r->captime * sizeof *r->timev);
	}
	r->timev[r->ntime++] = strdup(path);
}

static void mark_parent_time(struct rs *r, const char *path)
{
	char p[PATHCAP];
	snprintf(p, sizeof p, "%s", path);
	char *s = strrchr(p, '/');
	if (s) *s = 0;
	else p[0] = 0;
	mark_time(r, p);
}

/* ---------------------------------------------------------------------------------------- */
/* the local tree (beneath the root fd, no symlink followed) */

static int loc_open(const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC | O_NOFOLLOW,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
	return (int)syscall(SYS_openat2, g_rootfd, *path ? path : ".", &how, sizeof how);
}

/* Entry of path in our tree, encoded into buf; 0, -ENOENT, other -errno. */
static int loc_ent(const char *path, char *buf, size_t cap, struct hr_ent *e)
{
	char tmp[PATHCAP];
	snprintf(tmp, sizeof tmp, "%s", path);
	char *sl = strrchr(tmp, '/');
	const char *base;
	int dfd;
	if (!*path) {
		dfd = g_rootfd;
		base = "";
	} else if (sl) {
		*sl = 0;
		dfd = loc_open(tmp, O_PATH | O_DIRECTORY);
		if (dfd < 0) return errno == ENOTDIR ? -ENOENT : -errno;
		base = sl + 1;
	} else {
		dfd = g_rootfd;
		base = tmp;
	}
	int n = hr_ent_encode(buf, cap, dfd, base, base);
	if (dfd != g_rootfd) close(dfd);
	if (n < 0) return n;
	if (n == 0) return -E2BIG;
	size_t pos = 0;
	return hr_ent_decode(buf, (size_t)n, &pos, e) < 0 ? -EIO : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* requests to the secondary */

/* Sends a request on lane ci and waits: its result (0 / -errno), or LOST. */
static int call(struct rs *r, int ci, struct hr_hdr *h, const char *p1, const char *p2, const void *data, size_t dlen,
		struct hr_hdr *ack, size_t *rlen, int tmo)
{
	struct iovec v[3];
	int nv = 0;
	if (p1) {
		h->p1len = (uint32_t)strlen(p1) + 1;
		v[nv++] = (struct iovec){(void *)p1, h->p1len};
	}
	if (p2) {
		h->p2len = (uint32_t)strlen(p2) + 1;
		v[nv++] = (struct iovec){(void *)p2, h->p2len};
	}
	if (data && dlen) v[nv++] = (struct iovec){(void *)data, dlen};
	struct hr_hdr a;
	size_t rl = 0;
	if (mirror_call(r->ep, ci, h, v, nv, r->rbuf, HR_MAX_PAYLOAD, &rl, &a, tmo) < 0) return LOST;
	if (ack) *ack = a;
	if (rlen) *rlen = rl;
	return a.res;
}

static int sec_simple(struct rs *r, int op, const char *p1, const char *p2)
{
	struct hr_hdr h = {.op = (uint16_t)op};
	return call(r, 0, &h, p1, p2, NULL, 0, NULL, NULL, op == OP_RMTREE ? 30 * g_timeout_ms : 0);
}

/* Secondary's entry of path: 0 (copied into ebuf, *e points there), 1 missing, LOST, -errno. */
static int sec_stat(struct rs *r, const char *path, char *ebuf, size_t ecap, struct hr_ent *e)
{
	struct hr_hdr h = {.op = OP_STAT};
	size_t rl;
	int res = call(r, 0, &h, path, NULL, NULL, 0, NULL, &rl, 0);
	if (res == LOST) return LOST;
	if (res == -ENOENT || res == -ENOTDIR) return 1;
	if (res) return res;
	if (rl > ecap) return -E2BIG;
	memcpy(ebuf, r->rbuf, rl);
	size_t pos = 0;
	return hr_ent_decode(ebuf, rl, &pos, e) < 0 ? -EPROTO : 0;
}

static int set_attr(struct rs *r, const char *path, uint32_t valid, const struct hr_ent *pe)
{
	struct hr_hdr h = {.op = OP_SETATTR, .len = valid, .mode = pe->h.mode & 07777, .uid = pe->h.uid, .gid = pe->h.gid,
			   .off = (int64_t)pe->h.size, .t1s = pe->h.atime, .t1ns = pe->h.atns, .t2s = pe->h.mtime,
			   .t2ns = pe->h.mtns};
	return call(r, 0, &h, path, NULL, NULL, 0, NULL, NULL, 0);
}

/* xattrs of the secondary's entry made equal to ours. */
static int fix_xattrs(struct rs *r, const char *path, const struct hr_ent *pe, const struct hr_ent *se)
{
	size_t i = 0;
	while (i < pe->h.xlen) {
		const char *xn = pe->x + i;
		size_t xl = strlen(xn) + 1;
		uint32_t vl, svl;
		memcpy(&vl, pe->x + i + xl, 4);
		const char *val = pe->x + i + xl + 4;
		const char *sv = se ? hr_ent_xattr(se, xn, &svl) : NULL;
		if (!sv || svl != vl || memcmp(sv, val, vl)) {
			struct hr_hdr h = {.op = OP_SETXATTR};
			int res = call(r, 0, &h, path, xn, val, vl, NULL, NULL, 0);
			if (res == LOST) return LOST;
			if (res && r->warn++ < 20) fprintf(stderr, "hamod-repl resync: setxattr %s %s: %s\n", path, xn, strerror(-res));
		}
		i += xl + 4 + vl;
	}
	if (se) {
		i = 0;
		while (i < se->h.xlen) {
			const char *xn = se->x + i;
			size_t xl = strlen(xn) + 1;
			uint32_t vl, pvl;
			memcpy(&vl, se->x + i + xl, 4);
			if (!hr_ent_xattr(pe, xn, &pvl)) {
				struct hr_hdr h = {.op = OP_REMOVEXATTR};
				int res = call(r, 0, &h, path, xn, NULL, 0, NULL, NULL, 0);
				if (res == LOST) return LOST;
			}
			i += xl + 4 + vl;
		}
	}
	return 0;
}

/* Creates our entry pe at path on the secondary (nothing there). */
static int create_entry(struct rs *r, const char *path, const struct hr_ent *pe)
{
	mode_t m = pe->h.mode;
	struct hr_hdr h = {.mode = m, .uid = pe->h.uid, .gid = pe->h.gid, .rdev = pe->h.rdev};
	const char *p2 = NULL;
	if (S_ISDIR(m)) h.op = OP_MKDIR;
	else if (S_ISLNK(m)) h.op = OP_SYMLINK, p2 = pe->link ? pe->link : "";
	else h.op = OP_MKNOD;
	if (S_ISREG(m)) h.rdev = 0;
	int res = call(r, 0, &h, path, p2, NULL, 0, NULL, NULL, 0);
	if (res) return res;
	mark_parent_time(r, path);
	mark_time(r, path);
	if (S_ISREG(m) && pe->h.size) {
		res = set_attr(r, path, HR_SA_SIZE, pe);
		if (res) return res;
	}
	return fix_xattrs(r, path, pe, NULL);
}

static int remove_entry(struct rs *r, const char *path)
{
	int res = sec_simple(r, OP_RMTREE, path, NULL);
	if (res == 0) mark_parent_time(r, path);
	return res;
}

/* Metadata of an entry of the same type on both sides. */
static int fix_meta(struct rs *r, const char *path, const struct hr_ent *pe, const struct hr_ent *se)
{
	int res;
	int chown_ = pe->h.uid != se->h.uid || pe->h.gid != se->h.gid;
	if (chown_ && (res = set_attr(r, path, HR_SA_UID | HR_SA_GID, pe))) return res;
	/* chown may clear set-user/group-id: the mode after it */
	if (!S_ISLNK(pe->h.mode) && (chown_ || (pe->h.mode & 07777) != (se->h.mode & 07777)) &&
	    (res = set_attr(r, path, HR_SA_MODE, pe)))
		return res;
	if (S_ISREG(pe->h.mode) && pe->h.size != se->h.size && (res = set_attr(r, path, HR_SA_SIZE, pe))) return res;
	if ((res = fix_xattrs(r, path, pe, se))) return res;
	if (pe->h.mtime != se->h.mtime || pe->h.mtns != se->h.mtns || chown_) mark_time(r, path);
	return 0;
}

static int same_kind(const struct hr_ent *pe, const struct hr_ent *se)
{
	if ((pe->h.mode & S_IFMT) != (se->h.mode & S_IFMT)) return 0;
	if (S_ISLNK(pe->h.mode)) return pe->link && se->link && !strcmp(pe->link, se->link);
	if (S_ISCHR(pe->h.mode) || S_ISBLK(pe->h.mode)) return pe->h.rdev == se->h.rdev;
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* full: walk both trees */

static int add_link(struct rs *r, uint64_t pino, const char *path, uint64_t sino)
{
	if (r->nlinks == r->caplinks) {
		r->caplinks = r->caplinks ? r->caplinks * 2 : 64;
		r->links = realloc(r->links, r->caplinks * sizeof *r->links);
	}
	r->links[r->nlinks].path = strdup(path);
	r->links[r->nlinks].sino = sino;
	um_put(&r->pino, pino, ++r->nlinks);
	return 0;
}

/* Makes the secondary's entry at path equal to ours (pe); se = its entry or NULL. full: hard
 * links tracked through the walk; data of regular files queued (hash or copy). */
static void parent_of(const char *path, char *out, size_t cap);

/* Walk after a crash, a regular file on both sides: is it (or a directory above it) renamed in a
 * crashed session (then all of it is compared: 1), or in a directory with a D record (then its
 * first `*small` bytes are: 2)? 0 otherwise. */
static int in_tree(struct strset *set, const char *path);

static int walk_suspect(struct rs *r, const char *path, uint64_t *small)
{
	if (in_tree(&r->rtrees, path)) return 1;
	if (!r->smalldirs.n) return 0;
	char dir[PATHCAP];
	parent_of(path, dir, sizeof dir);
	struct snode *d = ss_find(&r->smalldirs, dir);
	if (!d) return 0;
	*small = (uint64_t)d->v;
	return 2;
}

static int reconcile_entry(struct rs *r, const char *path, const struct hr_ent *pe, const struct hr_ent *se, int full)
{
	int res, sus;
	uint64_t small = 0;
	int reg = S_ISREG(pe->h.mode);
	if (full && !S_ISDIR(pe->h.mode) && pe->h.nlink > 1) {
		uint64_t li;
		if (um_get(&r->pino, pe->h.ino, &li)) { /* another name of an inode already seen */
			const char *first = r->links[li - 1].path;
			uint64_t sm = 0;
			if (r->walk && walk_suspect(r, path, &sm)) df_get(r, first, DF_HASH); /* the inode's data, by its first name */
			uint64_t sino = r->links[li - 1].sino;
			if (se && sino && se->h.ino == sino) return 0;
			if (se && (res = remove_entry(r, path))) return res;
			struct hr_hdr h = {.op = OP_LINK};
			res = call(r, 0, &h, first, path, NULL, 0, NULL, NULL, 0);
			if (!res) mark_parent_time(r, path);
			return res;
		}
	}
	if (full && se && reg) { /* a secondary inode may serve only one of our inodes */
		uint64_t owner;
		if (um_get(&r->sclaim, se->h.ino, &owner) && owner != pe->h.ino) se = NULL, res = remove_entry(r, path);
		else res = 0;
		if (res) return res;
		if (se) um_put(&r->sclaim, se->h.ino, pe->h.ino);
	}
	int created = 0;
	if (se && !same_kind(pe, se)) {
		if ((res = remove_entry(r, path))) return res;
		se = NULL;
	}
	if (!se) {
		if ((res = create_entry(r, path, pe))) return res;
		created = 1;
	} else if ((res = fix_meta(r, path, pe, se))) {
		return res;
	}
	if (full && !S_ISDIR(pe->h.mode) && pe->h.nlink > 1) add_link(r, pe->h.ino, path, created ? 0 : se->h.ino);
	if (reg) {
		if (created) {
			if (pe->h.size) df_get(r, path, DF_COPY);
		} else if (full && !r->walk) {
			df_get(r, path, DF_HASH);
		} else if (full && (sus = walk_suspect(r, path, &small)) != 0) {
			/* renamed, or a small file (or the small beginning of a file) of a directory, in a
			 * crashed session: compared */
			if (sus == 1 || pe->h.size <= small) {
				df_get(r, path, DF_HASH);
			} else {
				df_range(r, path, 0, small);
				df_get(r, path, DF_ZONES)->hash = 1;
				if (pe->h.size != se->h.size)
					df_range(r, path, pe->h.size < se->h.size ? pe->h.size : se->h.size, UINT64_MAX);
			}
		} else if (full && pe->h.size != se->h.size) {
			/* walk after a crash: a size only an unrecorded operation can explain (the zones
			 * are in the logs); what lies past the smaller size is sent anyway */
			df_range(r, path, pe->h.size < se->h.size ? pe->h.size : se->h.size, UINT64_MAX);
		}
	}
	return 0;
}

struct sent_list {
	char *buf;
	size_t len;
	struct hr_ent *e;
	size_t n;
};

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hr_ent *)a)->name, ((const struct hr_ent *)b)->name);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The secondary's listing of directory path (every page), sorted by name. */
static int sec_list(struct rs *r, const char *path, struct sent_list *l)
{
	memset(l, 0, sizeof *l);
	size_t cap = 0, ecap = 0;
	uint64_t idx = 0;
	for (;;) {
		struct hr_hdr h = {.op = OP_LIST, .off = (int64_t)idx}, a;
		size_t rl;
		int res = call(r, 0, &h, path, NULL, NULL, 0, &a, &rl, 0);
		if (res == -ENOENT || res == -ENOTDIR) return 1;
		if (res) return res;
		if (l->len + rl > cap) {
			cap = (l->len + rl) * 2;
			l->buf = realloc(l->buf, cap);
		}
		memcpy(l->buf + l->len, r->rbuf, rl);
		l->len += rl;
		idx = (uint64_t)a.off;
		if (!(a.flags & F_MORE)) break;
	}
	size_t pos = 0;
	struct hr_ent e;
	while (pos < l->len) {
		if (hr_ent_decode(l->buf, l->len, &pos, &e) < 0) return -EPROTO;
		if (l->n == ecap) {
			ecap = ecap ? ecap * 2 : 64;
			l->e = realloc(l->e, ecap * sizeof *l->e);
		}
		l->e[l->n++] = e;
	}
	qsort(l->e, l->n, sizeof *l->e, ent_cmp);
	return 0;
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s%s%s", dir, *dir ? "/" : "", name);
}

static int walk_dir(struct rs *r, const char *path, int depth)
{
	if (depth > 2000) return -ELOOP;
	struct sent_list sl;
	int res = sec_list(r, path, &sl);
	if (res) {
		free(sl.buf);
		free(sl.e);
		return res == 1 ? -ENOENT : res;
	}
	int dfd = loc_open(path, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		free(sl.buf);
		free(sl.e);
		return errno == ENOENT ? 0 : -errno; /* gone meanwhile */
	}
	DIR *d = fdopendir(dfd);
	char **names = NULL;
	size_t nn = 0, cn = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		if (nn == cn) {
			cn = cn ? cn * 2 : 64;
			names = realloc(names, cn * sizeof *names);
		}
		names[nn++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, nn, sizeof *names, name_cmp);
	char child[PATHCAP];
	/* extras of the secondary first */
	for (size_t i = 0; i < sl.n && !res; i++) {
		if (bsearch(&sl.e[i].name, names, nn, sizeof *names, name_cmp)) continue;
		join(child, sizeof child, path, sl.e[i].name);
		if (hr_filter_active() && hr_path_excluded(child, S_ISDIR(sl.e[i].h.mode))) continue;
		res = remove_entry(r, child);
	}
	char *pbuf = malloc(1u << 20);
	for (size_t i = 0; i < nn && !res; i++) {
		join(child, sizeof child, path, names[i]);
		struct hr_ent pe;
		int lr = loc_ent(child, pbuf, 1u << 20, &pe);
		if (lr == -ENOENT) continue;
		if (lr) {
			res = lr;
			break;
		}
		if (hr_filter_active() && hr_path_excluded(child, S_ISDIR(pe.h.mode))) continue;
		struct hr_ent key = {.name = names[i]};
		struct hr_ent *se = bsearch(&key, sl.e, sl.n, sizeof *sl.e, ent_cmp);
		res = reconcile_entry(r, child, &pe, se, 1);
		if (!res && S_ISDIR(pe.h.mode)) res = walk_dir(r, child, depth + 1);
		progress(r, 0);
	}
	free(pbuf);
	for (size_t i = 0; i < nn; i++) free(names[i]);
	free(names);
	free(sl.buf);
	free(sl.e);
	return res;
}

static int full_namespace(struct rs *r)
{
	char *pbuf = malloc(1u << 20), *sbuf = malloc(HR_MAX_PAYLOAD);
	struct hr_ent pe, se;
	int res = loc_ent("", pbuf, 1u << 20, &pe);
	if (!res) {
		int sr = sec_stat(r, "", sbuf, HR_MAX_PAYLOAD, &se);
		res = sr < 0 ? sr : sr == 1 ? -ENOENT : fix_meta(r, "", &pe, &se);
	}
	free(pbuf);
	free(sbuf);
	if (!res) res = walk_dir(r, "", 0);
	mark_time(r, "");
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* delta: logs */

struct rec {
	/* W T N, or activity (activity.c): A / X a range that may differ, D a directory's small
	 * files, R a tree renamed */
	char type;
	int sess;  /* number of OPENs before it */
	int act;   /* activity: 1 counts (its session crashed), 2 undecided (the last session, open),
		    * 0 ignored (a clean session: its other records are complete) */
	char op[16];
	char *p1, *p2;
	uint64_t a, b;
};

static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '%' && s[1] && s[2]) {
			char hx[3] = {s[1], s[2], 0};
			*o++ = (char)strtol(hx, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

struct logsum {
	char base[96];
	int opens, closes, bad;
	/* sessions (OPEN .. CLOSE): ended without CLOSE (crashed) before the last OPEN, with and
	 * without an activity log; the last session: open (no CLOSE yet), and with an activity log */
	int crashed_al, crashed_noal, last_open, last_al;
	int lost; /* LOST: a receiving session went down with its machine */
	struct rec *r;
	size_t n, cap;
};

/* Parses a change log (modifies text). */
static void parse_log(char *text, struct logsum *L)
{
	memset(L, 0, sizeof *L);
	snprintf(L->base, sizeof L->base, "none");
	size_t ncap = 16;
	char *crashed = calloc(ncap, 1); /* per session: ended without CLOSE */
	for (char *s = text; s && *s;) {
		char *e = strchr(s, '\n');
		if (!e) break; /* a torn last line (a crash while appending): its operation never went on */
		*e = 0;
		char *tok[6] = {0};
		int nt = 0;
		for (char *t = strtok(s, " "); t && nt < 6; t = strtok(NULL, " ")) tok[nt++] = t;
		struct rec rc = {0};
		if (nt >= 2 && !strcmp(tok[0], "BASE")) snprintf(L->base, sizeof L->base, "%s", tok[1]);
		else if (nt >= 1 && !strcmp(tok[0], "OPEN")) {
			if (L->last_open) *(L->last_al ? &L->crashed_al : &L->crashed_noal) += 1;
			if (L->last_open) crashed[L->opens] = 1;
			L->opens++;
			if ((size_t)L->opens + 1 >= ncap) {
				crashed = realloc(crashed, ncap * 2);
				memset(crashed + ncap, 0, ncap);
				ncap *= 2;
			}
			L->last_open = 1;
			L->last_al = nt >= 3 && !strcmp(tok[2], "al");
		} else if (nt >= 1 && !strcmp(tok[0], "CLOSE")) {
			L->closes++;
			L->last_open = 0;
		} else if (nt >= 1 && !strcmp(tok[0], "LOST")) { /* a receiving session's page cache lost */
			L->lost = 1;
		}
		else if (nt >= 3 && !strcmp(tok[0], "D")) rc.type = 'D', rc.act = 1, rc.p1 = tok[1], rc.b = strtoull(tok[2], NULL, 10);
		else if (nt >= 2 && !strcmp(tok[0], "R")) rc.type = 'R', rc.act = 1, rc.p1 = tok[1];
		else if (nt >= 4 && (!strcmp(tok[0], "A") || !strcmp(tok[0], "X"))) { /* zones a crash may have left different */
			rc.type = 'A', rc.act = 1, rc.p1 = tok[1], rc.a = strtoull(tok[2], NULL, 10), rc.b = strtoull(tok[3], NULL, 10);
			if (rc.b == 0) rc.b = UINT64_MAX - rc.a; /* to the end of the file */
		}
		else if (nt >= 4 && !strcmp(tok[0], "W")) rc.type = 'W', rc.p1 = tok[1], rc.a = strtoull(tok[2], NULL, 10), rc.b = strtoull(tok[3], NULL, 10);
		else if (nt >= 3 && !strcmp(tok[0], "T")) rc.type = 'T', rc.p1 = tok[1], rc.a = strtoull(tok[2], NULL, 10);
		else if (nt >= 3 && !strcmp(tok[0], "N")) {
			rc.type = 'N';
			snprintf(rc.op, sizeof rc.op, "%s", tok[1]);
			rc.p1 = tok[2];
			rc.p2 = tok[3];
		}
		if (rc.type) {
			rc.sess = L->opens;
			unescape(rc.p1);
			if (!strcmp(rc.p1, ".")) rc.p1[0] = 0;
			if (rc.p2) unescape(rc.p2);
			if (rc.p1[0] == '?' && rc.type != 'A' && rc.type != 'D' && rc.type != 'R') L->bad = 1; /* activity: if it counts */
			if (L->n == L->cap) {
				L->cap = L->cap ? L->cap * 2 : 256;
				L->r = realloc(L->r, L->cap * sizeof *L->r);
			}
			L->r[L->n++] = rc;
		}
		s = e ? e + 1 : NULL;
	}
	/* Activity counts for a session that crashed; a session that closed cleanly recorded all it did
	 * otherwise; the last session, still open, is left to the caller (use_last_activity). */
	for (size_t i = 0; i < L->n; i++) {
		struct rec *c = &L->r[i];
		if (c->type != 'A' && c->type != 'D' && c->type != 'R') continue;
		c->act = crashed[c->sess] ? 1 : c->sess == L->opens && L->last_open ? 2 : 0;
		if (c->act == 1 && c->p1[0] == '?') L->bad = 1;
	}
	free(crashed);
}

/* The last session of the log ended without CLOSE (the secondary's log: a crash): its A records
 * count. (The primary's own last session is this daemon: its A records are ignored.) */
static void use_last_activity(struct logsum *L)
{
	for (size_t i = 0; i < L->n; i++) {
		if (L->r[i].act != 2) continue;
		L->r[i].act = 1;
		if (L->r[i].p1[0] == '?') L->bad = 1;
	}
}

static void parent_of(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s", path);
	char *sl = strrchr(out, '/');
	if (sl) *sl = 0;
	else out[0] = 0;
}

/* Directories of small files follow renames: of themselves (or a parent), and of a file leaving one
 * (link: a file also reachable from another). */
static void tree_rename(struct strset *set, const char *from, const char *to, int exchange, int link);

/* `path` or a directory above it is in the set. */
static int in_tree(struct strset *set, const char *path)
{
	if (!set->n) return 0;
	char p[PATHCAP];
	snprintf(p, sizeof p, "%s", path);
	for (;;) {
		if (ss_find(set, p)) return 1;
		char *sl = strrchr(p, '/');
		if (!sl) break;
		*sl = 0;
	}
	return ss_find(set, "") != NULL;
}

/* R trees follow renames: of a tree itself or a directory above it (moved), and of anything
 * inside one (its new name joins: what moves out of a renamed tree is still suspect). */
static void rtree_rename(struct strset *set, const char *from, const char *to, int exchange, int link)
{
	int a = in_tree(set, from), b = exchange && in_tree(set, to);
	tree_rename(set, from, to, exchange, link);
	if (a && !ss_find(set, to)) ss_put(set, to, 0);
	if (b && !ss_find(set, from)) ss_put(set, from, 0);
}

static void tree_rename(struct strset *set, const char *from, const char *to, int exchange, int link)
{
	char pf[PATHCAP], pt[PATHCAP], np[PATHCAP];
	parent_of(from, pf, sizeof pf);
	parent_of(to, pt, sizeof pt);
	struct snode *a = ss_find(set, pf), *b = exchange ? ss_find(set, pt) : NULL;
	long va = a ? a->v : 0, vb = b ? b->v : 0;
	if (!link) {
		size_t n = 0, lf = strlen(from), lt = strlen(to);
		char **v = malloc((set->n + 1) * sizeof *v);
		long *vv = malloc((set->n + 1) * sizeof *vv);
		for (size_t i = 0; i < set->nb; i++)
			for (struct snode *s = set->b[i]; s; s = s->next)
				if (has_prefix(s->s, from) || (exchange && has_prefix(s->s, to))) v[n] = strdup(s->s), vv[n++] = s->v;
		for (size_t i = 0; i < n; i++) {
			int f = has_prefix(v[i], from);
			snprintf(np, sizeof np, "%s%s", f ? to : from, v[i] + (f ? lf : lt));
			if (!exchange) ss_del(set, v[i]);
			ss_put(set, np, vv[i]);
			free(v[i]);
		}
		free(v);
		free(vv);
	}
	if (va && !ss_find(set, pt)) ss_put(set, pt, va);
	if (vb && !ss_find(set, pf)) ss_put(set, pf, vb);
}

/* The secondary's change log, in full (paged). NULL when it has none. */
static char *sec_log(struct rs *r, int *lost, size_t *lenp)
{
	char *b = NULL;
	size_t len = 0;
	uint64_t total = 0;
	*lost = 0;
	do {
		struct hr_hdr h = {.op = OP_LOGREAD, .off = (int64_t)len}, a;
		size_t rl;
		int res = call(r, g_nconns, &h, NULL, NULL, NULL, 0, &a, &rl, 0);
		if (res == LOST) {
			*lost = 1;
			free(b);
			return NULL;
		}
		if (res || a.len == 0) {
			free(b);
			return NULL;
		}
		total = a.len;
		b = realloc(b, len + rl + 1);
		memcpy(b + len, r->rbuf, rl);
		len += rl;
		if (rl == 0) break;
	} while (len < total);
	if (b) b[len] = 0;
	*lenp = len;
	return b;
}

/* Zones / named paths of a log's records, following renames (does not touch the secondary). */
static void note_records(struct rs *r, struct logsum *L, size_t from)
{
	for (size_t i = from; i < L->n; i++) {
		struct rec *c = &L->r[i];
		int activity = c->type == 'A' || c->type == 'D' || c->type == 'R';
		if (activity && c->act != 1) continue; /* activity that does not count (yet) */
		if (c->type == 'A') { /* may differ, or not: compared first */
			df_range(r, c->p1, c->a, c->a + c->b);
			df_get(r, c->p1, DF_ZONES)->hash = 1;
			continue;
		}
		if (c->type == 'W') {
			df_range(r, c->p1, c->a, c->a + c->b);
			continue;
		}
		if (c->type == 'D' || c->type == 'R') {
			struct strset *set = c->type == 'D' ? &r->smalldirs : &r->rtrees;
			struct snode *d = ss_find(set, c->p1);
			if (!d) ss_put(set, c->p1, (long)c->b);
			else if ((long)c->b > d->v) d->v = (long)c->b;
			continue;
		}
		if (c->type == 'N' && c->p2 && (!strcmp(c->op, "rename") || !strcmp(c->op, "exchange") || !strcmp(c->op, "link"))) {
			tree_rename(&r->smalldirs, c->p1, c->p2, c->op[0] == 'e', c->op[0] == 'l');
			rtree_rename(&r->rtrees, c->p1, c->p2, c->op[0] == 'e', c->op[0] == 'l');
		}
		ss_put(&r->named, c->p1, 0);
		if (c->p2 && c->op[0] != 's') ss_put(&r->named, c->p2, 0); /* not the symlink target */
		if (c->type == 'T') {
			df_range(r, c->p1, c->a, UINT64_MAX); /* everything from the new size on */
		} else if (!strcmp(c->op, "rename") || !strcmp(c->op, "exchange")) {
			if (c->p2) df_rename(r, c->p1, c->p2, c->op[0] == 'e');
		} else if (!strcmp(c->op, "unlink") || !strcmp(c->op, "rmdir")) {
			df_unlink(r, c->p1);
		} else if (!strcmp(c->op, "create")) {
			df_unlink(r, c->p1);
			df_range(r, c->p1, 0, UINT64_MAX); /* a new file: all of it */
		}
	}
}

/* Replays our namespace records on the secondary. 0, LOST, or 1 (an error: fall back to full). */
static int replay(struct rs *r, struct logsum *L)
{
	char *pbuf = malloc(1u << 20);
	int out = 0;
	for (size_t i = 0; i < L->n && !out; i++) {
		struct rec *c = &L->r[i];
		if (c->type != 'N' && c->type != 'T') continue;
		struct hr_hdr h = {0};
		int res = 0;
		if (c->type == 'T') {
			h.op = OP_SETATTR;
			h.len = HR_SA_SIZE;
			h.off = (int64_t)c->a;
			res = call(r, 0, &h, c->p1, NULL, NULL, 0, NULL, NULL, 0);
			if (res == -ENOENT) res = 0; /* removed later on: the reconcile decides */
		} else if (!strcmp(c->op, "create") || !strcmp(c->op, "mknod") || !strcmp(c->op, "mkdir") ||
			   !strcmp(c->op, "symlink")) {
			struct hr_ent pe;
			int lr = loc_ent(c->p1, pbuf, 1u << 20, &pe);
			h.uid = h.gid = 0;
			h.mode = 0600;
			if (!strcmp(c->op, "mkdir")) h.op = OP_MKDIR, h.mode = S_IFDIR | 0700;
			else if (!strcmp(c->op, "symlink")) h.op = OP_SYMLINK;
			else h.op = OP_MKNOD, h.mode = S_IFREG | 0600;
			if (!strcmp(c->op, "mknod") && lr == 0 && !S_ISDIR(pe.h.mode) && !S_ISLNK(pe.h.mode))
				h.mode = pe.h.mode, h.rdev = pe.h.rdev;
			res = call(r, 0, &h, c->p1, h.op == OP_SYMLINK ? (c->p2 ? c->p2 : "") : NULL, NULL, 0, NULL, NULL, 0);
			if (res == -EEXIST) res = 0; /* an earlier attempt made it: the reconcile decides */
		} else if (!strcmp(c->op, "unlink") || !strcmp(c->op, "rmdir")) {
			res = sec_simple(r, OP_RMTREE, c->p1, NULL);
		} else if (!strcmp(c->op, "rename") || !strcmp(c->op, "exchange") || !strcmp(c->op, "link")) {
			if (!c->p2) {
				res = -EINVAL;
			} else {
				h.op = c->op[0] == 'l' ? OP_LINK : OP_RENAME;
				h.len = c->op[0] == 'e' ? RENAME_EXCHANGE : 0;
				res = call(r, 0, &h, c->p1, c->p2, NULL, 0, NULL, NULL, 0);
			}
		}
		if (res == LOST) out = LOST;
		else if (res) {
			fprintf(stderr, "hamod-repl resync: replay of %s %s failed (%s): full resync\n", c->op[0] ? c->op : "T", c->p1,
				strerror(-res));
			out = 1;
		}
	}
	free(pbuf);
	return out;
}

/* Reconciles one path (delta): 0, LOST, 1 (fall back to full), -errno. */
static int reconcile_path(struct rs *r, const char *path, char *pbuf, char *sbuf, int depth)
{
	struct hr_ent pe, se;
	if (depth > 1000) return -ELOOP;
	if (hr_filter_active() && hr_path_excluded(path, 0) && hr_path_excluded(path, 1)) return 0;
	int lr = loc_ent(path, pbuf, 1u << 20, &pe);
	int sr = sec_stat(r, path, sbuf, HR_MAX_PAYLOAD, &se);
	if (sr == LOST) return LOST;
	if (sr < 0) return sr;
	if (lr == -ENOENT) {
		if (sr == 0) return remove_entry(r, path);
		return 0;
	}
	if (lr) return lr;
	if (hr_filter_active() && hr_path_excluded(path, S_ISDIR(pe.h.mode))) return 0;
	if (sr == 1 && *path) { /* missing: its parent first */
		char par[PATHCAP];
		snprintf(par, sizeof par, "%s", path);
		char *s = strrchr(par, '/');
		if (s) {
			*s = 0;
			char *pb2 = malloc(1u << 20), *sb2 = malloc(HR_MAX_PAYLOAD);
			struct hr_ent ps;
			int x = sec_stat(r, par, sb2, HR_MAX_PAYLOAD, &ps);
			if (x == 1 || (x == 0 && !S_ISDIR(ps.h.mode))) x = reconcile_path(r, par, pb2, sb2, depth + 1);
			free(pb2);
			free(sb2);
			if (x) return x;
			sr = sec_stat(r, path, sbuf, HR_MAX_PAYLOAD, &se); /* the parent's walk may have made it */
			if (sr == LOST) return LOST;
			if (sr < 0) return sr;
		}
	}
	if (!S_ISDIR(pe.h.mode) && pe.h.nlink > 1 && (sr == 1 || !same_kind(&pe, &se))) return 1; /* links: full */
	int res = reconcile_entry(r, path, &pe, sr == 0 ? &se : NULL, 0);
	if (res == 0 && S_ISDIR(pe.h.mode) && (sr == 1 || !same_kind(&pe, &se))) {
		/* a directory (re)created here: everything below it, as the full walk does */
		res = walk_dir(r, path, 0);
	}
	return res;
}

static int reconcile_named(struct rs *r)
{
	size_t n = 0;
	char **v = malloc((r->named.n + 1) * sizeof *v);
	for (size_t i = 0; i < r->named.nb; i++)
		for (struct snode *s = r->named.b[i]; s; s = s->next) v[n++] = s->s;
	qsort(v, n, sizeof *v, name_cmp); /* parents before children */
	char *pbuf = malloc(1u << 20), *sbuf = malloc(HR_MAX_PAYLOAD);
	int res = 0;
	for (size_t i = 0; i < n && !res; i++) {
		res = reconcile_path(r, v[i], pbuf, sbuf, 0);
		progress(r, 0);
	}
	free(pbuf);
	free(sbuf);
	free(v);
	return res;
}

/* ---------------------------------------------------------------------------------------- */
/* data phase */

static int pread_full(int fd, char *b, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, b + got, n - got, (off_t)(off + got));
		if (k < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		if (k == 0) break;
		got += (size_t)k;
	}
	memset(b + got, 0, n - got); /* shrunk meanwhile: cannot be, under the lock */
	return 0;
}

static int send_data(struct rs *r, int ci, uint64_t rid, int lfd, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len > CHUNK ? CHUNK : (size_t)len;
		int e = pread_full(lfd, r->buf, n, off);
		if (e) return e;
		struct hr_hdr h = {.op = OP_WRITE, .fh = rid, .off = (int64_t)off};
		int res = call(r, ci, &h, NULL, NULL, r->buf, n, NULL, NULL, 0);
		if (res) return res;
		throttle(r, n);
		off += n;
		len -= n;
	}
	return 0;
}

/* [lo, hi) of one file (zone aligned lo), chunk by chunk under the per-inode lock. */
static int copy_range(struct rs *r, int ci, uint64_t rid, int lfd, pthread_mutex_t *lk, uint64_t lo, uint64_t hi, int hash)
{
	uint64_t pos = lo / g_zone * g_zone;
	uint8_t *lh = malloc(CHUNK / 512 * 32), *rh = malloc(CHUNK / 512 * 32);
	int res = 0, punch_ok = 1;
	while (!res && pos < hi) {
		pthread_mutex_lock(lk);
		struct stat st;
		if (fstat(lfd, &st) < 0) {
			res = -errno;
			pthread_mutex_unlock(lk);
			break;
		}
		uint64_t size = (uint64_t)st.st_size, end = hi < size ? hi : size;
		if (pos >= end) {
			pthread_mutex_unlock(lk);
			break;
		}
		off_t d = punch_ok ? lseek(lfd, (off_t)pos, SEEK_DATA) : (off_t)pos;
		uint64_t dz = d < 0 ? end : (uint64_t)d / g_zone * g_zone;
		if (dz > end) dz = end;
		if (dz > pos) { /* a hole here: the secondary gets a hole too (never filled) */
			struct hr_hdr h = {.op = OP_FALLOCATE, .fh = rid, .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					   .off = (int64_t)pos, .len = dz - pos};
			res = call(r, ci, &h, NULL, NULL, NULL, 0, NULL, NULL, 0);
			if (res == -EOPNOTSUPP || res == -ENOSYS) { /* no holes there: compare it as data */
				punch_ok = 0;
				res = 0;
				pthread_mutex_unlock(lk);
				continue;
			}
			pthread_mutex_unlock(lk);
			g_rs_done += dz - pos;
			pos = dz;
			continue;
		}
		uint64_t cend = pos + CHUNK < end ? pos + CHUNK : end;
		if (punch_ok) {
			off_t hl = lseek(lfd, (off_t)pos, SEEK_HOLE);
			if (hl > 0) {
				uint64_t hz = ((uint64_t)hl + g_zone - 1) / g_zone * g_zone;
				if (hz > pos && hz < cend) cend = hz;
			}
		}
		if (!hash) {
			res = send_data(r, ci, rid, lfd, pos, cend - pos);
		} else {
			struct hr_hdr h = {.op = OP_HASH, .fh = rid, .off = (int64_t)pos, .len = cend - pos, .mode = g_zone};
			uint64_t nz = (cend - pos + g_zone - 1) / g_zone;
			size_t rl = 0;
			struct hr_hdr a;
			/* the secondary hashes its copy while we hash ours */
			void *q = mirror_start(r->ep, ci, &h, NULL, 0, (char *)rh, CHUNK / 512 * 32);
			if (!q) {
				res = LOST;
			} else {
				int lres = hr_hash_zones(lfd, pos, cend - pos, g_zone, lh, r->scratch);
				if (mirror_finish(q, ci, &rl, &a, 0) < 0) res = LOST;
				else if (a.res) res = a.res;
				else if (lres) res = lres;
				else if (rl != nz * 32) res = -EPROTO;
			}
			for (uint64_t z = 0; !res && z < nz;) {
				if (!memcmp(lh + 32 * z, rh + 32 * z, 32)) {
					z++;
					continue;
				}
				uint64_t z2 = z + 1;
				while (z2 < nz && memcmp(lh + 32 * z2, rh + 32 * z2, 32)) z2++;
				uint64_t a = pos + z * g_zone, b = pos + z2 * g_zone < cend ? pos + z2 * g_zone : cend;
				res = send_data(r, ci, rid, lfd, a, b - a);
				z = z2;
			}
		}
		pthread_mutex_unlock(lk);
		if (res) break;
		g_rs_done += cend - pos;
		pos = cend;
		progress(r, 0);
	}
	free(lh);
	free(rh);
	return res;
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->a < y->a ? -1 : x->a > y->a;
}

/* One file of the data list. 0, LOST or -errno (a failure of the secondary: resync fails). */
static void apply_rename(void *arg, const char *from, const char *to, int exchange)
{
	df_rename(arg, from, to, exchange);
}

static int copy_file(struct rs *r, struct dfile *f)
{
	int lfd = -1, res = 0;
	uint64_t rid = next_rid();
	pthread_mutex_lock(&g_nsmu); /* both sides open the same object: ordered with renames */
	resync_renames(apply_rename, r); /* the application's renames since the last file: paths follow */
	if (!f->path) { /* replaced by a rename: its new content went to both sides */
		pthread_mutex_unlock(&g_nsmu);
		return 0;
	}
	lfd = loc_open(f->path, O_RDONLY);
	struct stat st;
	if (lfd < 0 || fstat(lfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pthread_mutex_unlock(&g_nsmu);
		if (lfd >= 0) close(lfd);
		return 0; /* gone or replaced meanwhile: that change went to both sides */
	}
	struct hr_hdr h = {.op = OP_OPEN, .fh = rid, .mode = O_RDWR};
	res = call(r, 0, &h, f->path, NULL, NULL, 0, NULL, NULL, 0);
	pthread_mutex_unlock(&g_nsmu);
	if (res) {
		close(lfd);
		if (res != LOST) mirror_fail(r->ep, "resync: open of %s on the secondary: %s", f->path, strerror(-res));
		return LOST;
	}
	int ci = data_lane(st.st_ino);
	pthread_mutex_t *lk = ino_lock(st.st_dev, st.st_ino);
	if (f->mode == DF_ZONES) {
		qsort(f->r, f->nr, sizeof *f->r, range_cmp);
		uint64_t end = 0;
		for (size_t i = 0; i < f->nr && !res; i++) {
			uint64_t a = f->r[i].a / g_zone * g_zone, b = f->r[i].b;
			if (b != UINT64_MAX) b = (b + g_zone - 1) / g_zone * g_zone;
			if (a < end) a = end;
			if (b <= a) continue;
			res = copy_range(r, ci, rid, lfd, lk, a, b, f->hash);
			end = b;
		}
	} else {
		res = copy_range(r, ci, rid, lfd, lk, 0, UINT64_MAX, f->mode == DF_HASH);
	}
	if (!res) { /* the secondary's size = ours, under the lock (ordered with application writes) */
		pthread_mutex_lock(lk);
		fstat(lfd, &st);
		struct hr_hdr t = {.op = OP_SETATTR, .fh = rid, .len = HR_SA_SIZE, .off = st.st_size};
		res = call(r, ci, &t, NULL, NULL, NULL, 0, NULL, NULL, 0);
		pthread_mutex_unlock(lk);
	}
	struct hr_hdr rel = {.op = OP_RELEASE, .fh = rid};
	if (res != LOST) mirror_post(r->ep, ci, &rel, NULL, 0);
	close(lfd);
	mark_time(r, f->path);
	if (res && res != LOST) {
		mirror_fail(r->ep, "resync: writing %s on the secondary: %s", f->path, strerror(-res));
		return LOST;
	}
	return res;
}

static uint64_t file_size(const char *path)
{
	int fd = loc_open(path, O_PATH);
	struct stat st;
	uint64_t s = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	if (fd >= 0) close(fd);
	return s;
}

static int data_phase(struct rs *r)
{
	r->phase = "data";
	uint64_t total = 0;
	for (size_t i = 0; i < r->nf; i++) {
		struct dfile *f = &r->f[i];
		if (!f->path) continue;
		uint64_t sz = file_size(f->path);
		if (f->mode != DF_ZONES) {
			total += sz;
			continue;
		}
		for (size_t j = 0; j < f->nr; j++) {
			uint64_t b = f->r[j].b < sz ? f->r[j].b : sz;
			if (b > f->r[j].a) total += b - f->r[j].a;
		}
	}
	g_rs_total = total;
	g_rs_done = 0;
	progress(r, 1);
	for (size_t i = 0; i < r->nf; i++) {
		if (!r->f[i].path) continue;
		if (!mirror_alive(r->ep)) return LOST;
		int res = copy_file(r, &r->f[i]);
		if (res) return res;
	}
	if (g_rs_done < g_rs_total) g_rs_done = g_rs_total; /* shrunk meanwhile */
	progress(r, 1);
	return 0;
}

/* Times last (writes and entry changes stamp them): ours now, under the namespace mutex. */
static int times_phase(struct rs *r)
{
	char *pbuf = malloc(1u << 20);
	int res = 0;
	for (size_t i = 0; i < r->ntime && !res; i++) {
		if (i % 256 == 0) {
			if (i) pthread_mutex_unlock(&g_nsmu);
			pthread_mutex_lock(&g_nsmu);
		}
		struct hr_ent pe;
		if (loc_ent(r->timev[i], pbuf, 1u << 20, &pe)) continue;
		if (hr_filter_active() && hr_path_excluded(r->timev[i], S_ISDIR(pe.h.mode))) continue;
		res = set_attr(r, r->timev[i], HR_SA_ATIME | HR_SA_MTIME, &pe);
		if (res == -ENOENT) res = 0;
	}
	if (r->ntime) pthread_mutex_unlock(&g_nsmu);
	free(pbuf);
	return res;
}

/* ---------------------------------------------------------------------------------------- */

static void rs_free(struct rs *r)
{
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].path);
		free(r->f[i].r);
	}
	free(r->f);
	for (size_t i = 0; i < r->ntime; i++) free(r->timev[i]);
	free(r->timev);
	for (size_t i = 0; i < r->nlinks; i++) free(r->links[i].path);
	free(r->links);
	free(r->pino.k);
	free(r->pino.v);
	free(r->sclaim.k);
	free(r->sclaim.v);
	ss_free(&r->fidx);
	ss_free(&r->named);
	ss_free(&r->timed);
	ss_free(&r->smalldirs);
	ss_free(&r->rtrees);
	free(r->rbuf);
	free(r->buf);
	free(r->scratch);
}

static void rs_reset_lists(struct rs *r)
{
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].path);
		free(r->f[i].r);
	}
	r->nf = 0;
	ss_free(&r->fidx);
	ss_init(&r->fidx);
	ss_free(&r->named);
	ss_init(&r->named);
}

static int fail_with(struct rs *r, int res, const char *what)
{
	if (res != LOST) mirror_fail(r->ep, "resync %s: %s", what, strerror(res < 0 ? -res : EIO));
	return -1;
}

static int run(struct rs *r, struct resync_req *rq)
{
	if (mirror_connect(r->ep, rq->host, rq->port) < 0) {
		mirror_fail(r->ep, "cannot connect to %s:%d: %s", rq->host, rq->port,
			    errno == EACCES ? "authentication refused" : strerror(errno));
		return -1;
	}
	/* 1. both logs */
	int lost;
	size_t slen = 0;
	char *stext = sec_log(r, &lost, &slen);
	if (lost) return -1;
	size_t plen;
	char *ptext = clog_read(0, &plen);
	off_t psnap = (off_t)plen;
	struct logsum SL, PL;
	/* a NUL inside a log (a block of zeros after a power loss) hides what follows it: not trusted
	 * (checked before parsing, which cuts the text into strings) */
	int snul = stext && memchr(stext, 0, slen), pnul = ptext && memchr(ptext, 0, plen);
	parse_log(stext ? stext : (char *)"", &SL);
	parse_log(ptext ? ptext : (char *)"", &PL);
	if (snul) SL.bad = 1;
	if (pnul) PL.bad = 1;
	if (SL.last_open) use_last_activity(&SL); /* the peer's last session ended in a crash */
	/* A session that ended without CLOSE (a crash) is usable only if it kept an activity log: then
	 * its A records bound what it may have written unacknowledged, and the namespace is walked. The
	 * primary's last session is this daemon's own. */
	int scrash = SL.crashed_al + (SL.last_open && SL.last_al), pcrash = PL.crashed_al;
	int sclean = stext && !SL.crashed_noal && !(SL.last_open && !SL.last_al) && !SL.lost,
	    pclean = !PL.crashed_noal && !PL.lost;
	int delta = !rq->full && stext && sclean && pclean && !strcmp(SL.base, PL.base) && strcmp(PL.base, "none") &&
		    !SL.bad && !PL.bad;
	r->walk = delta && (scrash || pcrash);
	ev("RESYNC phase=namespace mode=%s done=0 total=0 sent=%llu%s%s", delta ? "delta" : "full", (unsigned long long)g_rs_sent,
	   delta || !rq->full ? "" : " (asked)", r->walk ? " walk=crash" : "");
	if (!delta && !rq->full)
		fprintf(stderr, "hamod-repl resync: full instead of delta (secondary log %s, clean %d/%d, base %s/%s)\n",
			stext ? "present" : "absent", pclean, sclean, PL.base, SL.base);
	if (r->walk)
		fprintf(stderr, "hamod-repl resync: a session ended in a crash (%d here, %d on the peer): the namespace is "
				"walked, the zones of both logs (activity log included) are sent\n",
			pcrash, scrash);
	r->phase = "namespace";
	/* 2. namespace phase, application namespace operations wait */
	pthread_mutex_lock(&g_nsmu);
	resync_renames(NULL, NULL); /* earlier renames: the namespace as it is now is what counts */
	int res = 0;
	if (r->walk) {
		/* the records first (they follow renames to today's paths), then the walk: entries,
		 * metadata, sizes; no replay (the walk makes the namespace equal) */
		note_records(r, &SL, 0);
		note_records(r, &PL, 0);
		res = full_namespace(r);
	} else if (delta) {
		note_records(r, &SL, 0); /* the secondary's own changes: its zones, its paths */
		note_records(r, &PL, 0);
		res = replay(r, &PL);
		if (res == 0) res = reconcile_named(r);
		if (res == 1) { /* fall back to full */
			delta = 0;
			rs_reset_lists(r);
			res = full_namespace(r);
		}
	} else {
		res = full_namespace(r);
	}
	/* 3. live: every new operation goes to both sides; then the tail of our log */
	off_t lsize = 0;
	if (!res && mirror_go_live(r->ep, &lsize) < 0) res = LOST;
	if (!res && lsize > psnap) {
		size_t tl;
		char *tail = clog_read(psnap, &tl);
		struct logsum TL;
		parse_log(tail ? tail : (char *)"", &TL);
		ss_free(&r->named);
		ss_init(&r->named);
		size_t nf0 = r->nf;
		note_records(r, &TL, 0);
		if (!delta) /* full: zones are compared anyway; only the new paths matter */
			for (size_t i = nf0; i < r->nf; i++)
				if (r->f[i].path) r->f[i].mode = DF_HASH;
		res = reconcile_named(r);
		if (res == 1) res = -EAGAIN; /* hard links changed under a live mirror: next attempt */
		free(TL.r);
		free(tail);
	}
	pthread_mutex_unlock(&g_nsmu);
	free(SL.r);
	free(PL.r);
	free(stext);
	free(ptext);
	if (res) return fail_with(r, res, "namespace phase");
	progress(r, 1);
	/* 4. data */
	res = data_phase(r);
	if (!res) res = times_phase(r);
	if (res) return fail_with(r, res, "data phase");
	/* 5. durable on the secondary, both logs reset, in sync */
	const char *base = resync_base_snapshot();
	struct hr_hdr h = {.op = OP_RESETLOG};
	res = call(r, g_nconns, &h, base, NULL, NULL, 0, NULL, NULL, 60 * g_timeout_ms);
	if (res) return fail_with(r, res, "syncfs / log reset on the secondary");
	if (mirror_go_insync(r->ep) < 0) return -1;
	return 0;
}

void *resync_thread(void *arg)
{
	struct resync_req *rq = arg;
	struct rs r;
	memset(&r, 0, sizeof r);
	r.ep = rq->ep;
	r.full = rq->full;
	r.bps = rq->bps;
	r.t0 = hr_now_ns();
	r.phase = "namespace";
	r.rbuf = malloc(HR_MAX_PAYLOAD);
	r.buf = malloc(CHUNK);
	r.scratch = malloc(1u << 20);
	ss_init(&r.fidx);
	ss_init(&r.named);
	ss_init(&r.timed);
	ss_init(&r.smalldirs);
	ss_init(&r.rtrees);
	run(&r, rq);
	rs_free(&r);
	free(rq);
	resync_finished();
	return NULL;
}
