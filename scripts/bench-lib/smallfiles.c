/* Small-file workload of scripts/bench-replication-proto.mjs, the same binary for every file
 * system compared: creates N files of SIZE bytes (open O_CREAT|O_EXCL, one write, close) in a
 * fresh subdirectory of DIR, then unlinks them all and removes the subdirectory.
 * Prints one line: `create_s=… delete_s=… total_s=… files=N size=SIZE`. No fsync (what an
 * application unpacking or cleaning a tree does); every step is a synchronous system call, so on a
 * replicated file system each create/write/close/unlink is at least one round trip.
 *
 *   cc -O2 -o smallfiles smallfiles.c && ./smallfiles DIR [N=10000] [SIZE=4096]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "smallfiles: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: smallfiles DIR [N] [SIZE]\n");
		return 2;
	}
	long n = argc > 2 ? atol(argv[2]) : 10000;
	long size = argc > 3 ? atol(argv[3]) : 4096;
	char *buf = malloc(size > 0 ? size : 1);
	if (!buf) return 1;
	for (long i = 0; i < size; i++) buf[i] = (char)('a' + i % 26);
	char sub[4096], path[4200];
	snprintf(sub, sizeof sub, "%s/smallfiles.%d", argv[1], (int)getpid());
	double t0 = now();
	if (mkdir(sub, 0755) != 0) die("mkdir", sub);
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%06ld", sub, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) die("create", path);
		for (long done = 0; done < size;) {
			ssize_t w = write(fd, buf + done, size - done);
			if (w < 0) die("write", path);
			done += w;
		}
		if (close(fd) != 0) die("close", path);
	}
	double t1 = now();
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%06ld", sub, i);
		if (unlink(path) != 0) die("unlink", path);
	}
	if (rmdir(sub) != 0) die("rmdir", sub);
	double t2 = now();
	printf("create_s=%.3f delete_s=%.3f total_s=%.3f files=%ld size=%ld\n", t1 - t0, t2 - t1, t2 - t0, n, size);
	return 0;
}
