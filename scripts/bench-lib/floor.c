/* The "floor" of scripts/bench-replication-proto.mjs: the least work any synchronous two-node
 * replication must do for fio's two write workloads, with no file system layer and no
 * authentication, measured on the same two test hosts and the same disk as hamod.
 *
 * For each write the client sends one frame (a 16-byte header + the data) over TCP to the server,
 * writes the data into its own file, then waits for the server's 8-byte answer; the server writes
 * the data into its file and answers. Both sides busy-poll their socket (no wakeup costs), so the
 * figure is a best case: a replicated write cannot be cheaper than this on the machine measured.
 *
 *   4k:   random 4 KiB writes in a 64 MiB file opened O_DSYNC on both sides (fio: --bs=4k
 *         --rw=randwrite --sync=dsync --size=64m)
 *   128k: sequential 128 KiB buffered writes over a 1 GiB file, fsync of both files at the end
 *         (fio: --bs=128k --rw=write --size=1g --end_fsync=1)
 *
 *   floor server ADDR PORT DIR          (serves one client, then exits)
 *   floor client ADDR PORT DIR 4k|128k SECONDS
 * The client prints one line: `iops=… mbps=… ops=… seconds=…`.
 *   cc -O2 -o floor floor.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct hdr {
	uint32_t len;  /* bytes of data after the header; 0 = end (fsync and answer) */
	uint32_t sync; /* 1: written through the server's O_DSYNC descriptor */
	uint64_t off;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Busy-polls until n bytes are read; returns 0 at EOF before any byte. */
static int recv_all(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r > 0) got += (size_t)r;
		else if (r == 0) {
			if (got == 0) return 0;
			errno = EPROTO;
			die("short frame");
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) die("recv");
	}
	return 1;
}

static void send_all(int fd, struct iovec *v, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, v, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			die("writev");
		}
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
}

static void pwrite_all(int fd, const char *b, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, b, n, off);
		if (w < 0) {
			if (errno == EINTR) continue;
			die("pwrite");
		}
		b += w;
		n -= (size_t)w;
		off += w;
	}
}

static int open_data(const char *dir, const char *name, int sync)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (sync ? O_DSYNC : 0), 0600);
	if (fd < 0) die(path);
	return fd;
}

static int tcp(const char *addr, int port, int server)
{
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) die("address");
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) die("socket");
	if (server) {
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0) die("listen");
		printf("LISTENING\n");
		fflush(stdout);
		int c = accept(s, NULL, NULL);
		if (c < 0) die("accept");
		close(s);
		s = c;
	} else {
		for (int i = 0; connect(s, (struct sockaddr *)&a, sizeof a) < 0; i++) {
			if (i > 500) die("connect");
			usleep(10000);
		}
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return s;
}

static int serve(const char *addr, int port, const char *dir)
{
	int s = tcp(addr, port, 1), fd = open_data(dir, "floor.data", 0), dfd = open_data(dir, "floor.data", 1);
	char *buf = aligned_alloc(4096, 1 << 20);
	struct hdr h;
	uint64_t ok = 0;
	while (recv_all(s, &h, sizeof h)) {
		if (h.len > (1u << 20)) {
			errno = EMSGSIZE;
			die("frame");
		}
		if (h.len == 0) {
			if (fsync(fd) < 0) die("fsync");
		} else {
			recv_all(s, buf, h.len);
			pwrite_all(h.sync ? dfd : fd, buf, h.len, (off_t)h.off);
		}
		struct iovec v = {&ok, sizeof ok};
		send_all(s, &v, 1);
	}
	return 0;
}

static int client(const char *addr, int port, const char *dir, const char *mode, double seconds)
{
	int k4 = strcmp(mode, "4k") == 0;
	size_t bs = k4 ? 4096 : 131072;
	uint64_t fsize = k4 ? 64ull << 20 : 1ull << 30;
	char *buf = aligned_alloc(4096, bs);
	for (size_t i = 0; i < bs; i++) buf[i] = (char)(i * 131 + 7);
	/* lay the local file out first, like fio (the server's file is laid out by the first pass
	 * for 128k, and by a pre-pass for 4k, below) */
	int fd = open_data(dir, "floor.data", k4);
	int s = tcp(addr, port, 0);
	uint64_t ack;
	struct hdr h = {.len = (uint32_t)bs};
	if (k4) { /* both files written in full once (not timed): overwrites, like fio's laid-out file */
		int lay = open_data(dir, "floor.data", 0);
		for (uint64_t off = 0; off < fsize; off += bs) {
			pwrite_all(lay, buf, bs, (off_t)off);
			h.off = off;
			struct iovec v[2] = {{&h, sizeof h}, {buf, bs}};
			send_all(s, v, 2);
			recv_all(s, &ack, sizeof ack);
		}
		if (fsync(lay) < 0) die("fsync");
		close(lay);
		struct hdr end = {0};
		struct iovec v = {&end, sizeof end};
		send_all(s, &v, 1);
		recv_all(s, &ack, sizeof ack);
	}
	h.sync = (uint32_t)k4;
	uint64_t ops = 0, seq = 0, rnd = 88172645463325252ull;
	double t0 = now(), t = t0;
	while (t - t0 < seconds) {
		if (k4) {
			rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
			h.off = (rnd % (fsize / bs)) * bs;
		} else {
			h.off = seq;
			seq = (seq + bs) % fsize;
		}
		struct iovec v[2] = {{&h, sizeof h}, {buf, bs}};
		send_all(s, v, 2);
		pwrite_all(fd, buf, bs, (off_t)h.off);
		recv_all(s, &ack, sizeof ack);
		ops++;
		if ((ops & 15) == 0 || k4) t = now();
	}
	struct hdr end = {0};
	struct iovec v = {&end, sizeof end};
	send_all(s, &v, 1);
	if (fsync(fd) < 0) die("fsync");
	recv_all(s, &ack, sizeof ack);
	double el = now() - t0;
	printf("iops=%.0f mbps=%.1f ops=%llu seconds=%.2f\n", ops / el, ops * (double)bs / el / 1048576.0,
	       (unsigned long long)ops, el);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "server") == 0) return serve(argv[2], atoi(argv[3]), argv[4]);
	if (argc == 7 && strcmp(argv[1], "client") == 0 && (!strcmp(argv[5], "4k") || !strcmp(argv[5], "128k")))
		return client(argv[2], atoi(argv[3]), argv[4], argv[5], atof(argv[6]));
	fprintf(stderr, "usage: floor server ADDR PORT DIR | floor client ADDR PORT DIR 4k|128k SECONDS\n");
	return 2;
}
