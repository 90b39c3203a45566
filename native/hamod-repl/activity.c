/* hamod-repl primary: the activity log (DRBD's, for files).
 *
 * A primary that crashes may have written locally what its mirror never received (and the other
 * way round: the mirror may have applied a write the crashed primary never made durable). Without
 * a record of where such writes can be, the returning node must be compared zone by zone in full.
 * The activity log bounds that:
 *
 * - Before a data write touches an extent (`ext` bytes of one path) that is not in the set of
 *   active extents, the extent is appended to the change log as `A <path> <offset> <length>` and
 *   the log is fdatasync'ed; only then does the write go on, locally and to the mirror. A write to
 *   an extent already in the set costs nothing.
 * - Truncations and fallocate modes that move data append a range record (`length` 0: to the end
 *   of the file) each time.
 * - A write into the first `small` bytes of a file no larger than that (a small file, new or
 *   rewritten) records its directory instead: `D <dir> <small>`, "the small files of this
 *   directory". One record then covers a tree unpacked or a directory of small files rewritten,
 *   where a record per file would cost a flush per file; the reintegration compares (hashes) the
 *   directory's small files.
 * - A rename first appends the extents of the renamed path(s) under the new name (and, for a file
 *   leaving a directory with a D record, a D record for its new directory): a write in flight
 *   under the old name lands in the file under its new one.
 * - An extent leaves the set only at a checkpoint, once its writes are durable: the checkpoint
 *   notes which extents have no write in flight, syncs the file system (syncfs), and then drops
 *   those of them not written since, oldest first. So an extent that is not in the set has every
 *   write on the local disk, even after a power loss.
 * - The checkpoint then rewrites the current session's part of the log with the set only
 *   (clog_compact; not during a reintegration, which reads the log by offset), so the log stays
 *   small. The set is emptied when the log is reset (INSYNC).
 *
 * After a crash, every zone that may differ between the nodes is inside an `A` record of the
 * crashed daemon's session or in a `W` record: the reintegration sends those zones only, after a
 * walk of the namespace (namespace operations in flight are not recorded). Keyed by path, not
 * inode: what the reintegration compares are paths. */
#include "primary.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct alent {
	struct alent *hnext, *prev, *next; /* prev: more recently written */
	uint64_t ext, touched;             /* touched: g_seq of its last write */
	int durable;                       /* its A line is on disk */
	int busy;                          /* writes in flight */
	int idle_at_cp;                    /* no write in flight when the running checkpoint began */
	char path[];
};

static pthread_mutex_t g_al_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_al_cv = PTHREAD_COND_INITIALIZER;    /* durable / checkpoint done */
static pthread_cond_t g_cp_cv = PTHREAD_COND_INITIALIZER;    /* checkpoint wanted */
static struct alent **g_tab, *g_head, *g_tail;
static size_t g_tabn, g_n;
static unsigned g_max;
static uint64_t g_ext, g_small, g_seq, g_range_seq;
#define AL_DIR UINT64_MAX /* the entry of a directory's small files */
static int g_ranges_busy, g_cp_wanted, g_cp_running, g_sync_fd = -1;
static uint64_t g_checkpoints;

static void *checkpoint_thread(void *arg);

void al_init(unsigned max_extents, uint64_t ext_bytes, uint64_t small_bytes)
{
	g_max = max_extents;
	g_ext = ext_bytes;
	g_small = small_bytes;
	if (!g_max) return;
	g_tabn = 64;
	while (g_tabn < 8 * (size_t)g_max) g_tabn *= 2;
	g_tab = calloc(g_tabn, sizeof *g_tab);
	/* a real fd of the directory underneath (g_rootfd is O_PATH): syncfs needs one */
	g_sync_fd = openat(g_rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pthread_t t;
	pthread_create(&t, NULL, checkpoint_thread, NULL);
	pthread_detach(t);
}

int al_enabled(void)
{
	return g_max > 0;
}

uint64_t al_small_bytes(void)
{
	return g_small;
}

static size_t slot(const char *path, uint64_t ext)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) h = (h ^ *s) * 1099511628211ull;
	h ^= ext * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ (h >> 29)) & (g_tabn - 1);
}

static struct alent *find(const char *path, uint64_t ext)
{
	for (struct alent *e = g_tab[slot(path, ext)]; e; e = e->hnext)
		if (e->ext == ext && !strcmp(e->path, path)) return e;
	return NULL;
}

static void lru_unlink(struct alent *e)
{
	if (e->prev) e->prev->next = e->next;
	else g_head = e->next;
	if (e->next) e->next->prev = e->prev;
	else g_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct alent *e)
{
	e->next = g_head;
	e->prev = NULL;
	if (g_head) g_head->prev = e;
	g_head = e;
	if (!g_tail) g_tail = e;
}

static struct alent *insert(const char *path, uint64_t ext)
{
	size_t pl = strlen(path) + 1;
	struct alent *e = calloc(1, sizeof *e + pl);
	memcpy(e->path, path, pl);
	e->ext = ext;
	size_t s = slot(path, ext);
	e->hnext = g_tab[s];
	g_tab[s] = e;
	lru_front(e);
	g_n++;
	if (g_n > g_max && !g_cp_running) {
		g_cp_wanted = 1;
		pthread_cond_signal(&g_cp_cv);
	}
	return e;
}

static void drop(struct alent *e)
{
	struct alent **pp = &g_tab[slot(e->path, e->ext)];
	while (*pp != e) pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	free(e);
	g_n--;
}

static void line(const char *path, uint64_t off, uint64_t len)
{
	char esc[3 * PATHCAP];
	clog_escape(esc, sizeof esc, *path ? path : ".");
	clog_line("A %s %llu %llu", esc, (unsigned long long)off, (unsigned long long)len);
}

static void entry_line(const struct alent *e)
{
	if (e->ext != AL_DIR) {
		line(e->path, e->ext * g_ext, g_ext);
		return;
	}
	char esc[3 * PATHCAP];
	clog_escape(esc, sizeof esc, *e->path ? e->path : ".");
	clog_line("D %s %llu", esc, (unsigned long long)g_small);
}

/* "a/b/c" -> "a/b", "c" -> "" */
static void parent_of(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s", path);
	char *sl = strrchr(out, '/');
	if (sl) *sl = 0;
	else out[0] = 0;
}

/* One extent, held busy until al_write_end; returns once it is recorded durably. */
static struct alent *touch_one(const char *path, uint64_t ext)
{
	pthread_mutex_lock(&g_al_mu);
	/* far over the limit (the checkpoint cannot keep up): wait for it */
	while (g_n >= 4 * (size_t)g_max && g_cp_running) pthread_cond_wait(&g_al_cv, &g_al_mu);
	struct alent *e;
	while ((e = find(path, ext)) && !e->durable) pthread_cond_wait(&g_al_cv, &g_al_mu);
	if (e) {
		e->busy++;
		e->touched = ++g_seq;
		lru_unlink(e);
		lru_front(e);
		pthread_mutex_unlock(&g_al_mu);
		return e;
	}
	e = insert(path, ext);
	e->busy = 1;
	e->touched = ++g_seq;
	pthread_mutex_unlock(&g_al_mu);
	entry_line(e);
	clog_sync();
	pthread_mutex_lock(&g_al_mu);
	e->durable = 1;
	pthread_cond_broadcast(&g_al_cv);
	pthread_mutex_unlock(&g_al_mu);
	return e;
}

void al_write_begin(struct al_ticket *t, const char *path, uint64_t off, uint64_t len, uint64_t size)
{
	memset(t, 0, sizeof *t);
	if (!g_max || !len) return;
	if (g_small && off + len <= g_small && size <= g_small) { /* a small file: its directory */
		char dir[PATHCAP];
		parent_of(path, dir, sizeof dir);
		t->e[t->n++] = touch_one(dir, AL_DIR);
		return;
	}
	uint64_t x0 = off / g_ext, x1 = (off + len - 1) / g_ext;
	if (x1 - x0 >= AL_TICKET_MAX) { /* a very large write: a range record */
		al_range_begin(t, path, off, len);
		return;
	}
	for (uint64_t x = x0; x <= x1; x++) t->e[t->n++] = touch_one(path, x);
}

void al_range_begin(struct al_ticket *t, const char *path, uint64_t off, uint64_t len)
{
	memset(t, 0, sizeof *t);
	if (!g_max) return;
	pthread_mutex_lock(&g_al_mu);
	g_ranges_busy++;
	g_range_seq = ++g_seq;
	pthread_mutex_unlock(&g_al_mu);
	line(path, off, len);
	clog_sync();
	t->range = 1;
}

void al_write_end(struct al_ticket *t)
{
	if (!t->n && !t->range) return;
	pthread_mutex_lock(&g_al_mu);
	for (int i = 0; i < t->n; i++) t->e[i]->busy--;
	if (t->range) g_ranges_busy--;
	pthread_mutex_unlock(&g_al_mu);
	t->n = t->range = 0;
}

static int has_prefix(const char *p, const char *dir, size_t l)
{
	return !strncmp(p, dir, l) && (p[l] == 0 || p[l] == '/');
}

void al_rename(const char *from, const char *to, int exchange)
{
	if (!g_max) return;
	size_t lf = strlen(from), lt = strlen(to), nm = 0;
	char np[PATHCAP];
	pthread_mutex_lock(&g_al_mu);
	struct alent **src = malloc((g_n + 1) * sizeof *src), **mv;
	size_t ns = 0;
	for (struct alent *e = g_head; e; e = e->next) src[ns++] = e;
	mv = malloc((ns + 1) * sizeof *mv);
	char pf[PATHCAP], pt[PATHCAP];
	parent_of(from, pf, sizeof pf);
	parent_of(to, pt, sizeof pt);
	for (size_t i = 0; i < ns; i++) {
		struct alent *e = src[i];
		const char *b = NULL;
		size_t la = 0;
		if (e->ext == AL_DIR && !strcmp(e->path, pf)) snprintf(np, sizeof np, "%s", pt); /* a small file leaves */
		else if (e->ext == AL_DIR && exchange && !strcmp(e->path, pt)) snprintf(np, sizeof np, "%s", pf);
		else if (has_prefix(e->path, from, lf)) b = to, la = lf;
		else if (exchange && has_prefix(e->path, to, lt)) b = from, la = lt;
		else continue;
		if ((b && (size_t)snprintf(np, sizeof np, "%s%s", b, e->path + la) >= sizeof np) || find(np, e->ext)) continue;
		struct alent *c = insert(np, e->ext);
		c->busy = 1; /* until its line is durable: kept by any checkpoint */
		c->touched = ++g_seq;
		mv[nm++] = c;
	}
	free(src);
	pthread_mutex_unlock(&g_al_mu);
	for (size_t i = 0; i < nm; i++) entry_line(mv[i]);
	if (nm) clog_sync();
	pthread_mutex_lock(&g_al_mu);
	for (size_t i = 0; i < nm; i++) mv[i]->durable = 1, mv[i]->busy--;
	pthread_cond_broadcast(&g_al_cv);
	pthread_mutex_unlock(&g_al_mu);
	free(mv);
}

void al_reset(void)
{
	if (!g_max) return;
	pthread_mutex_lock(&g_al_mu);
	for (struct alent *e = g_head; e;) {
		struct alent *n = e->next;
		if (e->durable && !e->busy) drop(e);
		e = n;
	}
	pthread_mutex_unlock(&g_al_mu);
}

void al_lock(void)
{
	pthread_mutex_lock(&g_al_mu);
}

void al_unlock(void)
{
	pthread_mutex_unlock(&g_al_mu);
}

char *al_lines_locked(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap), esc[3 * PATHCAP];
	for (struct alent *e = g_tail; e; e = e->prev) {
		clog_escape(esc, sizeof esc, *e->path ? e->path : ".");
		size_t need = strlen(esc) + 64;
		if (n + need > cap) {
			while (n + need > cap) cap *= 2;
			b = realloc(b, cap);
		}
		if (e->ext == AL_DIR)
			n += (size_t)snprintf(b + n, cap - n, "D %s %llu\n", esc, (unsigned long long)g_small);
		else
			n += (size_t)snprintf(b + n, cap - n, "A %s %llu %llu\n", esc, (unsigned long long)(e->ext * g_ext),
					      (unsigned long long)g_ext);
	}
	b[n] = 0;
	*len = n;
	return b;
}

size_t al_size(uint64_t *checkpoints)
{
	pthread_mutex_lock(&g_al_mu);
	size_t n = g_n;
	if (checkpoints) *checkpoints = g_checkpoints;
	pthread_mutex_unlock(&g_al_mu);
	return n;
}

static void *checkpoint_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_al_mu);
	for (;;) {
		while (!g_cp_wanted) pthread_cond_wait(&g_cp_cv, &g_al_mu);
		g_cp_wanted = 0;
		g_cp_running = 1;
		uint64_t seq0 = g_seq;
		int ranges_idle = g_ranges_busy == 0;
		for (struct alent *e = g_head; e; e = e->next) e->idle_at_cp = e->durable && e->busy == 0;
		pthread_mutex_unlock(&g_al_mu);
		/* every write that had returned before seq0 is durable after this */
		int synced = g_sync_fd >= 0 && syncfs(g_sync_fd) == 0;
		if (!synced) fprintf(stderr, "hamod-repl: activity log checkpoint: syncfs: %s\n", strerror(errno));
		pthread_mutex_lock(&g_al_mu);
		if (synced) {
			for (struct alent *e = g_tail; e && g_n > g_max / 2;) {
				struct alent *p = e->prev;
				if (e->idle_at_cp && e->touched <= seq0 && e->busy == 0) drop(e);
				e = p;
			}
			g_checkpoints++;
		}
		int drop_ranges = synced && ranges_idle && g_range_seq <= seq0;
		pthread_mutex_unlock(&g_al_mu);
		if (synced) clog_compact(drop_ranges);
		pthread_mutex_lock(&g_al_mu);
		g_cp_running = 0;
		pthread_cond_broadcast(&g_al_cv);
		if (g_n > g_max) { /* still over: again, after a pause (writes may be holding extents) */
			pthread_mutex_unlock(&g_al_mu);
			usleep(50000);
			pthread_mutex_lock(&g_al_mu);
			g_cp_wanted = 1;
		}
	}
	return NULL;
}
