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
 * - Truncations and fallocate modes that move data append a range record (`X <path> <offset>
 *   <length>`, `length` 0: to the end of the file) each time.
 * - A write into the first `small` bytes of a file no larger than that (a small file, new or
 *   rewritten) records its directory instead: `D <dir> <small>`, "the small files of this
 *   directory". One record then covers a tree unpacked or a directory of small files rewritten,
 *   where a record per file would cost a flush per file; the reintegration compares (hashes) the
 *   directory's small files.
 * - A rename (or link) first appends `R <new path>` (both paths for an exchange): everything at
 *   and below it is compared after a crash. That covers a write in flight under the old name (it
 *   lands in the file under its new one) and a rename in flight itself (the names then hold other
 *   contents on the two nodes, sizes possibly equal).
 * - An extent leaves the set only at a checkpoint, once its writes are durable: the checkpoint
 *   notes which extents have no write in flight, syncs the file system (syncfs), and then drops
 *   those of them not written since, oldest first. So an extent that is not in the set has every
 *   write on the local disk, even after a power loss.
 * - The checkpoint then rewrites the current session's part of the log (clog_compact; not during
 *   a reintegration, which reads the log by offset): its A/D records are replaced by the set's,
 *   its X/R records are dropped once no such operation runs or started since the checkpoint
 *   began; records appended after the snapshot are kept as they are. The set is emptied when the
 *   log is reset (INSYNC).
 *
 * After a crash, every zone that may differ between the nodes is inside an `A` record of the
 * crashed daemon's session or in a `W` record: the reintegration sends those zones only, after a
 * walk of the namespace (namespace operations in flight are not recorded). Keyed by path, not
 * inode: what the reintegration compares are paths. */
#include "primary.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
/* Writes from before their path is computed to their end, counted by the phase they began in: a
 * checkpoint flips the phase and waits for the old one to drain before X/R records may go (a write
 * that took its path before a rename ended records the old name, which only R covers). */
static atomic_int g_phase;
static atomic_long g_inflight[2];
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

/* An entry's record ("A path off len" or "D dir bytes"), newline included; its length. */
static int entry_text(const struct alent *e, char *out, size_t cap)
{
	char esc[3 * PATHCAP];
	clog_escape(esc, sizeof esc, *e->path ? e->path : ".");
	if (e->ext == AL_DIR) return snprintf(out, cap, "D %s %llu\n", esc, (unsigned long long)g_small);
	return snprintf(out, cap, "A %s %llu %llu\n", esc, (unsigned long long)(e->ext * g_ext), (unsigned long long)g_ext);
}

static void entry_line(const struct alent *e)
{
	char t[3 * PATHCAP + 64];
	int n = entry_text(e, t, sizeof t);
	if (n > 0 && t[n - 1] == '\n') t[n - 1] = 0;
	clog_line("%s", t);
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
	t->n = t->range = 0; /* op/phase stay: set by al_op_enter */
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

/* A record written each time, kept by checkpoints while its operation runs (see the top). */
static void range_record(struct al_ticket *t, const char *fmt, const char *path, const char *path2, uint64_t off,
			 uint64_t len)
{
	pthread_mutex_lock(&g_al_mu);
	g_ranges_busy++;
	g_range_seq = ++g_seq;
	pthread_mutex_unlock(&g_al_mu);
	char e1[3 * PATHCAP], e2[3 * PATHCAP];
	clog_escape(e1, sizeof e1, *path ? path : ".");
	if (fmt[0] == 'X') {
		clog_line("X %s %llu %llu", e1, (unsigned long long)off, (unsigned long long)len);
	} else {
		clog_line("R %s", e1);
		if (path2) {
			clog_escape(e2, sizeof e2, *path2 ? path2 : ".");
			clog_line("R %s", e2);
		}
	}
	clog_sync();
	t->range = 1;
}

void al_range_begin(struct al_ticket *t, const char *path, uint64_t off, uint64_t len)
{
	t->n = t->range = 0; /* op/phase stay: set by al_op_enter */
	if (!g_max) return;
	range_record(t, "X", path, NULL, off, len);
}

void al_op_enter(struct al_ticket *t)
{
	if (!g_max) return;
	t->phase = atomic_load(&g_phase);
	atomic_fetch_add(&g_inflight[t->phase], 1);
	t->op = 1;
}

void al_write_end(struct al_ticket *t)
{
	if (t->op) atomic_fetch_sub(&g_inflight[t->phase], 1);
	t->op = 0;
	if (!t->n && !t->range) return;
	pthread_mutex_lock(&g_al_mu);
	for (int i = 0; i < t->n; i++) t->e[i]->busy--;
	if (t->range) g_ranges_busy--;
	pthread_mutex_unlock(&g_al_mu);
	t->n = t->range = 0;
}

void al_rename_begin(struct al_ticket *t, const char *from, const char *to, int exchange)
{
	t->n = t->range = 0; /* op/phase stay: set by al_op_enter */
	if (!g_max) return;
	range_record(t, "R", to, exchange ? from : NULL, 0, 0);
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

/* The checkpoint's snapshot for clog_compact: the set's records, whether the session's X/R records
 * may go (none running, none begun since seq0, none running when it began), and the log's size. */
static char *snapshot(size_t *len, uint64_t seq0, int ranges_idle, int *drop_ranges, off_t *log_size, uint64_t *gen)
{
	pthread_mutex_lock(&g_al_mu);
	size_t cap = 4096, n = 0;
	char *b = malloc(cap), t[3 * PATHCAP + 64];
	for (struct alent *e = g_tail; e; e = e->prev) {
		size_t tl = (size_t)entry_text(e, t, sizeof t);
		if (n + tl + 1 > cap) {
			while (n + tl + 1 > cap) cap *= 2;
			b = realloc(b, cap);
		}
		memcpy(b + n, t, tl);
		n += tl;
	}
	b[n] = 0;
	*len = n;
	*drop_ranges = ranges_idle && g_ranges_busy == 0 && g_range_seq <= seq0;
	*log_size = clog_size_gen(gen); /* under g_al_mu: records of entries added later come after it */
	pthread_mutex_unlock(&g_al_mu);
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
		/* the writes begun before now (their paths maybe taken before a rename ended) end first,
		 * within 5 s; otherwise X/R records stay this time */
		int old = atomic_fetch_xor(&g_phase, 1);
		for (int i = 0; i < 5000 && atomic_load(&g_inflight[old]) > 0; i++) usleep(1000);
		ranges_idle = ranges_idle && atomic_load(&g_inflight[old]) == 0;
		/* every write that had returned before seq0 is durable after this */
		int synced = g_sync_fd >= 0 && syncfs(g_sync_fd) == 0;
		if (!synced) { /* nothing leaves the set; said once a minute, tried again every second */
			static time_t said;
			if (time(NULL) - said >= 60) {
				said = time(NULL);
				fprintf(stderr, "hamod-repl: activity log checkpoint: syncfs: %s\n", g_sync_fd < 0 ? "no directory fd" : strerror(errno));
			}
			sleep(1);
		}
		pthread_mutex_lock(&g_al_mu);
		if (synced) {
			for (struct alent *e = g_tail; e && g_n > g_max / 2;) {
				struct alent *p = e->prev;
				if (e->idle_at_cp && e->touched <= seq0 && e->busy == 0) drop(e);
				e = p;
			}
			g_checkpoints++;
		}
		pthread_mutex_unlock(&g_al_mu);
		if (synced) {
			size_t len;
			int drop;
			off_t at;
			uint64_t gen;
			char *set = snapshot(&len, seq0, ranges_idle, &drop, &at, &gen);
			clog_compact(set, len, at, gen, drop);
			free(set);
		}
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
