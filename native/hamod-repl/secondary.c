/* hamod-repl secondary: receives authenticated operations and applies them beneath --dir.
 *
 * Path discipline: every path from the primary is relative, made of plain components (no "",
 * ".", ".."); parent directories are opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from the directory fd opened at start, and the last
 * component is handled with *at(..., AT_SYMLINK_NOFOLLOW) / O_NOFOLLOW: nothing outside --dir is
 * ever reached, whatever the tree holds. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <sys/xattr.h>
#include <unistd.h>

static int g_root = -1;
static int g_root_rd = -1;          /* a real (not O_PATH) fd of the directory, for syncfs */
static const char *g_changelog;     /* --changelog: this node's record of what may differ */
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t g_secret[256];
static size_t g_secret_len;
static atomic_uint_fast64_t g_session;
static int g_spin_us; /* --spin-us: poll the socket this long before sleeping */

/* ---- stats (profile counters, printed on SIGUSR1 and at exit) ---- */
static atomic_uint_fast64_t st_ops[OP__MAX], st_ns[OP__MAX], st_bytes;
static volatile sig_atomic_t g_dump, g_stop;

static void dump_stats(void)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "STATS secondary bytes=%llu", (unsigned long long)st_bytes);
	for (int i = 1; i < OP__MAX; i++) {
		uint64_t c = st_ops[i];
		if (!c) continue;
		n += snprintf(line + n, sizeof line - (size_t)n, " %s=%llu/%.1fus", hr_op_names[i], (unsigned long long)c,
			      (double)st_ns[i] / (double)c / 1000.0);
	}
	printf("%s\n", line);
	fflush(stdout);
}

/* ---- file handle table: primary's fh id -> local fd ---- */
#define FH_BUCKETS 4096
struct fhent {
	struct fhent *next;
	uint64_t id, session;
	int fd;
};
static struct fhent *fh_tab[FH_BUCKETS];
static pthread_mutex_t fh_mu = PTHREAD_MUTEX_INITIALIZER;

static void fh_put(uint64_t session, uint64_t id, int fd)
{
	struct fhent *e = malloc(sizeof *e);
	e->id = id;
	e->session = session;
	e->fd = fd;
	pthread_mutex_lock(&fh_mu);
	e->next = fh_tab[id % FH_BUCKETS];
	fh_tab[id % FH_BUCKETS] = e;
	pthread_mutex_unlock(&fh_mu);
}

static int fh_get(uint64_t session, uint64_t id)
{
	int fd = -1;
	pthread_mutex_lock(&fh_mu);
	for (struct fhent *e = fh_tab[id % FH_BUCKETS]; e; e = e->next)
		if (e->id == id && e->session == session) {
			fd = e->fd;
			break;
		}
	pthread_mutex_unlock(&fh_mu);
	return fd;
}

static int fh_del(uint64_t session, uint64_t id)
{
	int fd = -1;
	pthread_mutex_lock(&fh_mu);
	for (struct fhent **pp = &fh_tab[id % FH_BUCKETS]; *pp; pp = &(*pp)->next) {
		struct fhent *e = *pp;
		if (e->id == id && e->session == session) {
			fd = e->fd;
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&fh_mu);
	return fd;
}

/* A new primary session: close what older sessions left open. */
static void fh_purge_except(uint64_t session)
{
	pthread_mutex_lock(&fh_mu);
	for (int b = 0; b < FH_BUCKETS; b++)
		for (struct fhent **pp = &fh_tab[b]; *pp;) {
			struct fhent *e = *pp;
			if (e->session != session) {
				*pp = e->next;
				close(e->fd);
				free(e);
			} else {
				pp = &e->next;
			}
		}
	pthread_mutex_unlock(&fh_mu);
}

/* ---- path resolution beneath the root ---- */

static int path_ok(const char *p)
{
	if (*p == 0) return 1; /* the root itself */
	if (*p == '/') return 0;
	const char *s = p;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
		if (!e) return 1;
		s = e + 1;
	}
}

static int open_beneath(const char *path, uint64_t flags, uint64_t mode)
{
	struct open_how how = {
		.flags = flags,
		.mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	return (int)syscall(SYS_openat2, g_root, *path ? path : ".", &how, sizeof how);
}

/* Opens the parent directory of path (O_PATH) and points *base at the last component.
 * For the root itself (""), *dfd = g_root (not to be closed) and *base = "". */
static int resolve_parent(char *path, int *dfd, const char **base)
{
	if (!path_ok(path)) return -EINVAL;
	char *slash = strrchr(path, '/');
	if (!slash) {
		*dfd = g_root;
		*base = path;
		return 0;
	}
	*slash = 0;
	int fd = open_beneath(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	*slash = '/';
	if (fd < 0) return -errno;
	*dfd = fd;
	*base = slash + 1;
	return 0;
}

static void put_parent(int dfd)
{
	if (dfd != g_root && dfd >= 0) close(dfd);
}

#define ERR(x) ((x) < 0 ? -errno : 0)

static int do_setattr(uint64_t session, struct hr_hdr *h, char *path)
{
	uint32_t v = (uint32_t)h->len;
	int fd = -1, dfd = -1, r = 0;
	const char *base = NULL;
	char proc[64];
	if (h->fh) {
		fd = fh_get(session, h->fh);
		if (fd < 0) return -EBADF;
	} else {
		r = resolve_parent(path, &dfd, &base);
		if (r) return r;
	}
	if (v & HR_SA_MODE) {
		if (fd >= 0) {
			r = ERR(fchmod(fd, h->mode));
		} else {
			int o = *base ? openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC) : dup(g_root);
			struct stat st;
			if (o < 0) {
				r = -errno;
			} else {
				if (fstat(o, &st) == 0 && S_ISLNK(st.st_mode)) {
					r = -EOPNOTSUPP;
				} else {
					snprintf(proc, sizeof proc, "/proc/self/fd/%d", o);
					r = ERR(chmod(proc, h->mode));
				}
				close(o);
			}
		}
		if (r) goto out;
	}
	if (v & (HR_SA_UID | HR_SA_GID)) {
		uid_t u = (v & HR_SA_UID) ? h->uid : (uid_t)-1;
		gid_t g = (v & HR_SA_GID) ? h->gid : (gid_t)-1;
		if (fd >= 0)
			r = ERR(fchown(fd, u, g));
		else if (*base)
			r = ERR(fchownat(dfd, base, u, g, AT_SYMLINK_NOFOLLOW));
		else
			r = ERR(fchownat(g_root, "", u, g, AT_EMPTY_PATH));
		if (r) goto out;
	}
	if (v & HR_SA_SIZE) {
		if (fd >= 0) {
			r = ERR(ftruncate(fd, h->off));
		} else {
			int o = *base ? openat(dfd, base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
			if (o < 0) {
				r = *base ? -errno : -EISDIR;
			} else {
				r = ERR(ftruncate(o, h->off));
				close(o);
			}
		}
		if (r) goto out;
	}
	if (v & (HR_SA_ATIME | HR_SA_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (v & HR_SA_ATIME) ts[0] = (struct timespec){h->t1s, h->t1ns};
		if (v & HR_SA_MTIME) ts[1] = (struct timespec){h->t2s, h->t2ns};
		if (fd >= 0) {
			r = ERR(futimens(fd, ts));
		} else if (*base) {
			r = ERR(utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW));
		} else {
			snprintf(proc, sizeof proc, "/proc/self/fd/%d", g_root);
			r = ERR(utimensat(AT_FDCWD, proc, ts, 0));
		}
	}
out:
	put_parent(dfd);
	return r;
}

/* Sets owner then mode of a just-created object exactly as the primary reported them. */
static int fix_owner_mode(int dfd, const char *base, struct hr_hdr *h, int is_link)
{
	if (fchownat(dfd, base, h->uid, h->gid, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
	if (is_link) return 0;
	int o = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (o < 0) return -errno;
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", o);
	int r = ERR(chmod(proc, h->mode & 07777));
	close(o);
	return r;
}

#define STRIP_FLAGS (O_CREAT | O_EXCL | O_APPEND | O_DIRECT | O_NOCTTY)

/* Removes dfd/base, recursively when it is a directory (never following symlinks: every level is
 * opened with O_NOFOLLOW relative to its parent's fd). */
static int rm_tree_at(int dfd, const char *base, int depth)
{
	if (unlinkat(dfd, base, 0) == 0) return 0;
	if (errno == ENOENT) return 0;
	if (errno != EISDIR && errno != EPERM) return -errno;
	if (depth > 4096) return -ELOOP;
	int fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int r = 0;
	for (;;) {
		/* restart the listing after removals: readdir positions are not stable across unlinks */
		rewinddir(d);
		int removed = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
			r = rm_tree_at(fd, de->d_name, depth + 1);
			if (r) break;
			removed++;
		}
		if (r || !removed) break;
	}
	closedir(d);
	if (r) return r;
	return ERR(unlinkat(dfd, base, AT_REMOVEDIR));
}

/* OP_LIST: entries of directory p1 from index h->off; ACK off = next index, flags F_MORE. */
static int do_list(struct hr_hdr *h, char *path, char *rbuf, size_t rcap, size_t *rlen, struct hr_hdr *ack)
{
	if (!path_ok(path)) return -EINVAL;
	int fd = open_beneath(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	uint64_t idx = 0;
	size_t pos = 0;
	struct dirent *de;
	char rel[8192];
	int r = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		if (hr_filter_active()) {
			snprintf(rel, sizeof rel, "%s%s%s", path, *path ? "/" : "", de->d_name);
			if (hr_path_excluded(rel, de->d_type == DT_DIR)) continue;
		}
		if (idx++ < (uint64_t)h->off) continue;
		int n = hr_ent_encode(rbuf + pos, rcap - pos, dirfd(d), de->d_name, de->d_name);
		if (n == -ENOENT) continue;
		if (n < 0) {
			r = n;
			break;
		}
		if (n == 0) { /* full: the primary asks again from here */
			if (pos == 0) r = -E2BIG;
			ack->flags = F_MORE;
			idx--;
			break;
		}
		pos += (size_t)n;
	}
	ack->off = (int64_t)idx;
	closedir(d);
	*rlen = pos;
	return r;
}

static int do_logread(struct hr_hdr *h, char *rbuf, size_t rcap, size_t *rlen, struct hr_hdr *ack)
{
	if (!g_changelog) return 0; /* no log: ack->len = 0 */
	int fd = open(g_changelog, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return errno == ENOENT ? 0 : -errno;
	struct stat st;
	fstat(fd, &st);
	ack->len = (uint64_t)st.st_size;
	ssize_t n = pread(fd, rbuf, rcap < (1u << 20) ? rcap : (1u << 20), h->off);
	close(fd);
	if (n < 0) return -errno;
	*rlen = (size_t)n;
	return 0;
}

/* The receiving session's marks in the log (the only lines a secondary appends):
 *   RECV <time> <boot id>   this daemon applies what the primary sends
 *   STOP <time>             it stopped cleanly, everything applied synced (syncfs)
 *   LOST <time> <boot id>   a receiving session of an earlier boot never stopped: the machine went
 *                           down (power loss, kernel crash) with acknowledged writes possibly only
 *                           in its page cache. The primary never takes such a log for a delta. */
static char g_boot[80] = "unknown";
static pthread_rwlock_t g_apply_rw = PTHREAD_RWLOCK_INITIALIZER; /* apply (read) vs clean stop */
static volatile int g_closing;

static void log_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_append(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line) return;
	pthread_mutex_lock(&g_log_mu);
	int fd = open(g_changelog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fdatasync(fd) < 0)
		fprintf(stderr, "hamod-repl secondary: change log %s: %s\n", g_changelog, strerror(errno));
	if (fd >= 0) close(fd);
	pthread_mutex_unlock(&g_log_mu);
}

/* At start: a session of another boot left without STOP means LOST; then this session's RECV. */
static void session_start(void)
{
	if (!g_changelog) return;
	hr_log_trim_tail(g_changelog); /* a torn line must not swallow what is appended next */
	char last[96];
	if (hr_log_lost_session(g_changelog, g_boot, last, sizeof last)) {
		fprintf(stderr, "hamod-repl secondary: the last receiving session (boot %s) ended with its machine: "
				"acknowledged writes may be lost; the next reintegration compares everything\n",
			last);
		log_append("LOST %lld %s\n", (long long)time(NULL), last);
	}
	log_append("RECV %lld %s\n", (long long)time(NULL), g_boot);
}

/* Clean stop: no apply after this, everything applied synced, STOP. */
static void session_stop(void)
{
	g_closing = 1;
	pthread_rwlock_wrlock(&g_apply_rw); /* kept until exit */
	if (syncfs(g_root_rd) < 0) {
		fprintf(stderr, "hamod-repl secondary: syncfs at exit: %s\n", strerror(errno));
		return;
	}
	if (g_changelog) log_append("STOP %lld\n", (long long)time(NULL));
}

static int do_resetlog(const char *gen)
{
	if (syncfs(g_root_rd) < 0) return -errno;
	if (!g_changelog) return 0;
	char recv[128];
	snprintf(recv, sizeof recv, "RECV %lld %s\n", (long long)time(NULL), g_boot);
	pthread_mutex_lock(&g_log_mu);
	int r = hr_log_reset(g_changelog, gen, recv, NULL);
	pthread_mutex_unlock(&g_log_mu);
	return r;
}

static int apply(uint64_t session, struct hr_hdr *h, char *buf, char *rbuf, size_t rcap, size_t *rlen,
		 struct hr_hdr *ack, char *scratch)
{
	char *p1 = h->p1len ? buf : NULL;
	char *p2 = h->p2len ? buf + h->p1len : NULL;
	char *data = buf + h->p1len + h->p2len;
	size_t dlen = h->paylen - h->p1len - h->p2len;
	if ((p1 && p1[h->p1len - 1]) || (p2 && p2[h->p2len - 1])) return -EPROTO;
	int dfd = -1, dfd2 = -1, r = 0, fd;
	const char *base = NULL, *base2 = NULL;
	char proc[PATH_MAX + 64];

	switch (h->op) {
	case OP_PING:
		return 0;
	case OP_OPEN:
		if (!p1 || !path_ok(p1)) return -EINVAL;
		fd = open_beneath(p1, ((uint64_t)h->mode & ~(uint64_t)STRIP_FLAGS) | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) return -errno;
		fh_put(session, h->fh, fd);
		return 0;
	case OP_CREATE:
		if (!p1) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r;
		if (!*base) {
			r = -EINVAL;
			break;
		}
		fd = openat(dfd, base, ((int)h->len & ~(O_APPEND | O_DIRECT | O_NOCTTY)) | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			    h->mode & 07777);
		if (fd < 0) {
			r = -errno;
			break;
		}
		if (fchown(fd, h->uid, h->gid) < 0 || fchmod(fd, h->mode & 07777) < 0) {
			r = -errno;
			close(fd);
			break;
		}
		fh_put(session, h->fh, fd);
		break;
	case OP_WRITE: {
		fd = fh_get(session, h->fh);
		if (fd < 0) return -EBADF;
		size_t done = 0;
		while (done < dlen) {
			ssize_t w = pwrite(fd, data + done, dlen - done, h->off + (off_t)done);
			if (w < 0) {
				if (errno == EINTR) continue;
				return -errno;
			}
			if (w == 0) return -EIO;
			done += (size_t)w;
		}
		st_bytes += dlen;
		return 0;
	}
	case OP_FSYNC:
		if (h->fh) {
			fd = fh_get(session, h->fh);
			if (fd < 0) return -EBADF;
			return ERR((h->flags & F_DATASYNC) ? fdatasync(fd) : fsync(fd));
		}
		/* by path */
		__attribute__((fallthrough));
	case OP_FSYNCDIR:
		if (!p1 || !path_ok(p1)) return -EINVAL;
		fd = open_beneath(p1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) return -errno;
		r = ERR((h->flags & F_DATASYNC) ? fdatasync(fd) : fsync(fd));
		close(fd);
		return r;
	case OP_RELEASE:
		fd = fh_del(session, h->fh);
		if (fd < 0) return -EBADF;
		close(fd);
		return 0;
	case OP_SETATTR:
		if (!h->fh && !p1) return -EINVAL;
		return do_setattr(session, h, p1);
	case OP_MKNOD:
	case OP_MKDIR:
	case OP_SYMLINK:
		if (!p1) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r;
		if (!*base) {
			r = -EEXIST;
			break;
		}
		if (h->op == OP_MKDIR)
			r = ERR(mkdirat(dfd, base, h->mode & 07777));
		else if (h->op == OP_MKNOD)
			r = ERR(mknodat(dfd, base, h->mode, (dev_t)h->rdev));
		else
			r = p2 ? ERR(symlinkat(p2, dfd, base)) : -EINVAL;
		if (!r) r = fix_owner_mode(dfd, base, h, h->op == OP_SYMLINK);
		break;
	case OP_UNLINK:
	case OP_RMDIR:
		if (!p1) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r;
		r = *base ? ERR(unlinkat(dfd, base, h->op == OP_RMDIR ? AT_REMOVEDIR : 0)) : -EBUSY;
		break;
	case OP_RENAME:
	case OP_LINK:
		if (!p1 || !p2) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r;
		if ((r = resolve_parent(p2, &dfd2, &base2))) break;
		if (!*base || !*base2) {
			r = -EBUSY;
			break;
		}
		if (h->op == OP_RENAME)
			r = ERR(renameat2(dfd, base, dfd2, base2, (unsigned)h->len));
		else
			r = ERR(linkat(dfd, base, dfd2, base2, 0));
		break;
	case OP_SETXATTR:
	case OP_REMOVEXATTR:
		if (!p1 || !p2) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r;
		if (*base)
			snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dfd, base);
		else
			snprintf(proc, sizeof proc, "/proc/self/fd/%d", g_root);
		if (h->op == OP_SETXATTR)
			r = ERR((*base ? lsetxattr : setxattr)(proc, p2, data, dlen, (int)h->len));
		else
			r = ERR((*base ? lremovexattr : removexattr)(proc, p2));
		break;
	case OP_FALLOCATE:
		fd = fh_get(session, h->fh);
		if (fd < 0) return -EBADF;
		return ERR(fallocate(fd, (int)h->mode, h->off, (off_t)h->len));
	case OP_STAT:
		if (!p1) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r;
		r = hr_ent_encode(rbuf, rcap, dfd, base, base);
		if (r > 0) *rlen = (size_t)r, r = 0;
		else if (r == 0) r = -E2BIG;
		break;
	case OP_LIST:
		if (!p1) return -EINVAL;
		return do_list(h, p1, rbuf, rcap, rlen, ack);
	case OP_HASH: {
		uint32_t zone = h->mode;
		if (zone < 512 || zone > (1u << 20) || (h->len + zone - 1) / zone * 32 > rcap) return -EINVAL;
		int own = 0;
		if (h->fh) {
			fd = fh_get(session, h->fh);
			if (fd < 0) return -EBADF;
		} else {
			if (!p1 || !path_ok(p1)) return -EINVAL;
			fd = open_beneath(p1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
			if (fd < 0) return -errno;
			own = 1;
		}
		r = hr_hash_zones(fd, (uint64_t)h->off, h->len, zone, (uint8_t *)rbuf, scratch);
		if (!r) *rlen = (size_t)((h->len + zone - 1) / zone * 32);
		struct stat hst;
		if (!r && fstat(fd, &hst) == 0) ack->len = (uint64_t)hst.st_size; /* the copy's size */
		if (own) close(fd);
		return r;
	}
	case OP_RMTREE:
		if (!p1) return -EINVAL;
		if ((r = resolve_parent(p1, &dfd, &base))) return r == -ENOENT || r == -ENOTDIR ? 0 : r;
		r = *base ? rm_tree_at(dfd, base, 0) : -EBUSY;
		break;
	case OP_LOGREAD:
		return do_logread(h, rbuf, rcap, rlen, ack);
	case OP_RESETLOG:
		if (!p1) return -EINVAL;
		return do_resetlog(p1);
	default:
		return -ENOSYS;
	}
	put_parent(dfd);
	put_parent(dfd2);
	return r;
}

struct conn_arg {
	int fd;
};

static void *conn_thread(void *arg)
{
	int fd = ((struct conn_arg *)arg)->fd;
	free(arg);
	struct hr_chan ch = {.fd = -1};
	uint32_t idx;
	uint64_t session;
	char *buf = malloc(HR_MAX_PAYLOAD), *rbuf = malloc(HR_MAX_PAYLOAD), *scratch = malloc(1u << 20);
	hr_tune_socket(fd);
	if (hr_handshake_server(&ch, fd, g_secret, g_secret_len, &idx, &session) < 0) {
		fprintf(stderr, "hamod-repl secondary: handshake refused: %s\n", strerror(errno));
		goto done;
	}
	if (atomic_exchange(&g_session, session) != session) fh_purge_except(session);
	printf("PEER connected conn=%u\n", idx);
	fflush(stdout);
	for (;;) {
		struct hr_hdr h;
		hr_spin_readable(fd, g_spin_us);
		if (hr_recv(&ch, &h, buf, HR_MAX_PAYLOAD) < 0) {
			if (errno != ECONNRESET) fprintf(stderr, "hamod-repl secondary: conn %u: %s\n", idx, strerror(errno));
			break;
		}
		uint64_t t0 = hr_now_ns();
		struct hr_hdr a = {.op = OP_ACK, .seq = h.seq};
		size_t rlen = 0;
		pthread_rwlock_rdlock(&g_apply_rw);
		if (g_closing) { /* stopping: nothing more is applied (or acknowledged) */
			pthread_rwlock_unlock(&g_apply_rw);
			break;
		}
		int res = (h.op > 0 && h.op < OP__MAX) ? apply(session, &h, buf, rbuf, HR_MAX_PAYLOAD - 4096, &rlen, &a, scratch)
						       : -ENOSYS;
		pthread_rwlock_unlock(&g_apply_rw);
		if (h.op > 0 && h.op < OP__MAX) {
			st_ops[h.op]++;
			st_ns[h.op] += hr_now_ns() - t0;
		}
		a.res = res;
		struct iovec rv = {rbuf, rlen};
		if (hr_send(&ch, &a, &rv, rlen ? 1 : 0) < 0) break;
	}
	printf("PEER disconnected conn=%u\n", idx);
	fflush(stdout);
done:
	free(buf);
	free(rbuf);
	free(scratch);
	close(fd);
	hr_chan_free(&ch);
	return NULL;
}

static void on_sig(int s)
{
	if (s == SIGUSR1)
		g_dump = 1;
	else
		g_stop = 1;
}

int secondary_main(int argc, char **argv)
{
	const char *dir = NULL, *keyfile = NULL, *listen_s[HR_MAX_LISTEN];
	int nlisten = 0;
	static struct option lo[] = {{"dir", 1, 0, 'd'},     {"listen", 1, 0, 'l'},  {"key-file", 1, 0, 'k'},
				     {"spin-us", 1, 0, 'S'}, {"changelog", 1, 0, 'c'}, {"include", 1, 0, 'I'},
				     {"exclude", 1, 0, 'X'}, {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'l':
			if (nlisten == HR_MAX_LISTEN) {
				fprintf(stderr, "hamod-repl: at most %d --listen\n", HR_MAX_LISTEN);
				return 2;
			}
			listen_s[nlisten++] = optarg;
			break;
		case 'k': keyfile = optarg; break;
		case 'S': g_spin_us = atoi(optarg); break;
		case 'c': g_changelog = optarg; break;
		case 'I': hr_filter_add(1, optarg); break;
		case 'X': hr_filter_add(0, optarg); break;
		default: return 2;
		}
	}
	if (!dir || !nlisten || !keyfile) {
		fprintf(stderr, "usage: hamod-repl secondary --dir D --listen ADDR:PORT [--listen ADDR:PORT]... (one port: the first) --key-file K [--changelog FILE] "
				"[--include GLOB]... [--exclude GLOB]... [--spin-us N]\n");
		return 2;
	}
	if (hr_read_keyfile(keyfile, g_secret, sizeof g_secret, &g_secret_len) < 0) {
		fprintf(stderr, "hamod-repl: key file %s: %s (need >= 16 bytes)\n", keyfile, strerror(errno));
		return 1;
	}
	umask(0);
	g_root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	g_root_rd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g_root < 0 || g_root_rd < 0) {
		fprintf(stderr, "hamod-repl: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	/* One socket per --listen address (one per network), all on the same port: the first one's
	 * (an ephemeral one when it says 0), so the primary reaches this daemon on any network with the
	 * one port it was told. */
	int ls[HR_MAX_LISTEN], port = -1, nls = 0;
	for (int i = 0; i < nlisten; i++) {
		char host[128];
		int p;
		if (hr_parse_hostport(listen_s[i], host, sizeof host, &p) < 0) {
			fprintf(stderr, "hamod-repl: bad --listen %s\n", listen_s[i]);
			return 2;
		}
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port < 0 ? p : port))};
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
			fprintf(stderr, "hamod-repl: bad address %s\n", host);
			return 2;
		}
		int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
			/* the first address is required (it gives the port); another one that cannot be
			 * used (not configured on this host yet) is skipped, said on stderr */
			fprintf(stderr, "hamod-repl: listen %s (port %d): %s%s\n", listen_s[i], ntohs(sa.sin_port), strerror(errno),
				i ? " (skipped)" : "");
			close(fd);
			if (i == 0) return 1;
			continue;
		}
		socklen_t sl = sizeof sa;
		getsockname(fd, (struct sockaddr *)&sa, &sl);
		port = ntohs(sa.sin_port);
		ls[nls++] = fd;
	}
	hr_boot_id(g_boot, sizeof g_boot);
	session_start();
	struct sigaction act = {.sa_handler = on_sig};
	sigaction(SIGUSR1, &act, NULL);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("LISTENING %d\n", port);
	struct pollfd pl[HR_MAX_LISTEN];
	for (int i = 0; i < nls; i++) pl[i] = (struct pollfd){.fd = ls[i], .events = POLLIN};
	while (!g_stop) {
		int n = poll(pl, (nfds_t)nls, 500);
		if (g_dump) {
			g_dump = 0;
			dump_stats();
		}
		if (n <= 0) continue;
		int fd = -1;
		for (int i = 0; i < nls && fd < 0; i++)
			if (pl[i].revents & POLLIN) fd = accept4(ls[i], NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) continue;
		struct conn_arg *a = malloc(sizeof *a);
		a->fd = fd;
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, conn_thread, a)) {
			close(fd);
			free(a);
		}
		pthread_attr_destroy(&at);
	}
	session_stop();
	dump_stats();
	printf("EXIT\n");
	return 0;
}
