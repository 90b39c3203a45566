/* hamod-repl: entry point. `hamod-repl primary ...` | `hamod-repl secondary ...` */
#include "common.h"

#include <string.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "primary") == 0) return primary_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "secondary") == 0) return secondary_main(argc - 1, argv + 1);
	fprintf(stderr,
		"usage:\n"
		"  hamod-repl primary --dir D --key-file K (--control SOCK | --peer HOST:PORT) [--changelog FILE]\n"
		"                     [--mode off|hold] [--zone-bytes N] [--timeout-ms N] [--include GLOB]... [--exclude GLOB]...\n"
		"                     [--conns N] [--threads N] [--cached-writes] [--no-sync-direct] [--spin-us N]\n"
		"  hamod-repl secondary --dir D --listen ADDR:PORT --key-file K [--changelog FILE]\n"
		"                     [--include GLOB]... [--exclude GLOB]... [--spin-us N]\n"
		"  (control protocol: native/hamod-repl/CONTROL.md)\n");
	return 2;
}
