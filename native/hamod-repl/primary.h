/* hamod-repl primary: what primary.c (FUSE ops, modes, mirror, change log, control socket) and
 * resync.c (reintegration) share. Not a public interface. */
#ifndef HAMOD_REPL_PRIMARY_H
#define HAMOD_REPL_PRIMARY_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#define PATHCAP 8192

/* Mirror states. PREP: connected, reintegration's namespace phase (application operations are
 * not sent yet); RESYNC: attached, every new mutating operation goes to it synchronously, data
 * phase running; INSYNC: equal to the primary. */
enum { MIR_NONE, MIR_PREP, MIR_RESYNC, MIR_INSYNC };

extern int g_rootfd;          /* O_PATH fd of the directory, opened before the mount */
extern int g_nconns;          /* lanes 0..g_nconns-1; lane g_nconns is the resync lane */
extern int g_timeout_ms;
extern uint32_t g_zone;       /* change-log / resync zone bytes (power of two) */
extern pthread_mutex_t g_nsmu; /* namespace order */
extern char g_changelog_path[];
extern atomic_int g_mir;
extern atomic_uint_fast64_t g_epoch;
extern atomic_uint_fast64_t g_rs_done, g_rs_total, g_rs_sent;

struct resync_req {
	uint64_t ep;
	int full;
	uint64_t bps;
	char host[128];
	int port;
};

/* Event line on stdout (one printf, flushed). */
void ev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Request/reply with the mirror of epoch ep on lane ci (resync thread). 0: *ack holds the
 * secondary's answer (ack->res) and rbuf its payload (*rlen bytes); -1: mirror lost (already
 * reported). timeout_ms <= 0: the ordinary timeout. */
int mirror_call(uint64_t ep, int ci, struct hr_hdr *h, const struct iovec *pay, int npay, char *rbuf, size_t rcap,
		size_t *rlen, struct hr_hdr *ack, int timeout_ms);
/* The same in two steps (something else can be done meanwhile): NULL when not sent (lost). */
void *mirror_start(uint64_t ep, int ci, struct hr_hdr *h, const struct iovec *pay, int npay, char *rbuf, size_t rcap);
int mirror_finish(void *req, int ci, size_t *rlen, struct hr_hdr *ack, int timeout_ms);
/* Sends without waiting for the reply (the ACK is read and dropped). 0 or -1 (lost). */
int mirror_post(uint64_t ep, int ci, struct hr_hdr *h, const struct iovec *pay, int npay);
void mirror_fail(uint64_t ep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mirror_alive(uint64_t ep);
/* PREP -> RESYNC once every mutating operation that started unmirrored has recorded itself in
 * the change log; *logsize = the log's size at that instant. 0 or -1 (mirror lost). */
int mirror_go_live(uint64_t ep, off_t *logsize);
/* RESYNC -> INSYNC and the primary's log reset to BASE <gen> (the secondary's was reset before). */
int mirror_go_insync(uint64_t ep);
/* Connects and authenticates every lane for epoch ep. 0 or -1 (errno). */
int mirror_connect(uint64_t ep, const char *host, int port);
const char *cur_gen(void);
/* The per-inode write lock (striped by (dev, ino)); data lane of an inode. */
pthread_mutex_t *ino_lock(dev_t d, ino_t i);
int data_lane(ino_t i);
uint64_t next_rid(void);
/* Change log bytes [from, end) (malloc'ed, NUL-terminated), or NULL. */
char *clog_read(off_t from, size_t *len);
void *resync_thread(void *arg);
/* Snapshot of the current generation: what both logs are reset to at the end of this resync. */
const char *resync_base_snapshot(void);
void resync_finished(void);
/* The renames made since the last call (under g_nsmu: none can slip in), in order, handed to apply
 * (NULL: dropped). */
void resync_renames(void (*apply)(void *, const char *, const char *, int), void *arg);

/* Change log (primary.c). */
void clog_escape(char *out, size_t cap, const char *s);
void clog_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void clog_sync(void); /* fdatasync if anything was appended since the last one */
/* Rewrites the current session's records: A/D before log offset `at` replaced by `set`, X/R before
 * it dropped if `drop_ranges`, everything after it kept (activity.c's checkpoint). */
void clog_compact(const char *set, size_t setlen, off_t at, uint64_t gen, int drop_ranges);
off_t clog_size(void);
off_t clog_size_gen(uint64_t *gen); /* with the log file's generation (reset, compaction) */

/* Activity log (activity.c): extents that writes in flight may have touched, on disk before the
 * write goes on. A ticket holds them until the operation has returned (or been recorded). */
#define AL_TICKET_MAX 8
struct alent;
struct al_ticket {
	struct alent *e[AL_TICKET_MAX];
	int n, range;
	int op, phase; /* al_op_enter: counted as a write in flight */
};
void al_init(unsigned max_extents, uint64_t ext_bytes, uint64_t small_bytes); /* 0 extents: none */
int al_enabled(void);
uint64_t al_small_bytes(void);
/* size: the file's size before the write (a small file's writes record its directory). */
void al_write_begin(struct al_ticket *t, const char *path, uint64_t off, uint64_t len, uint64_t size);
/* A range record, written each time (len 0: to the end of the file). */
void al_range_begin(struct al_ticket *t, const char *path, uint64_t off, uint64_t len);
void al_write_end(struct al_ticket *t);
/* A write begins (before its path is taken): see activity.c's checkpoint. Ended by al_write_end. */
void al_op_enter(struct al_ticket *t);
/* Before a rename (exchange: both names) or a link (to = the new name): R records, held until the
 * operation has returned (al_write_end). */
void al_rename_begin(struct al_ticket *t, const char *from, const char *to, int exchange);
void al_reset(void); /* the log was reset (INSYNC): the set starts empty */
size_t al_size(uint64_t *checkpoints);

#endif
