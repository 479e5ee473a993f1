// SPDX-License-Identifier: GPL-2.0
/* floor [PROG...]: load floor.bpf.o, attach the named programs (default
 * floor_enter), print "ready", exit on stdin EOF. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s.bpf.o", argv[0]);
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) { perror("open"); return 1; }
	const char *def[] = {"floor", "floor_enter"};
	if (argc < 2) { argv = (char **)def; argc = 2; }
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		int want = 0;
		for (int i = 1; i < argc; i++)
			want |= !strcmp(bpf_program__name(p), argv[i]);
		bpf_program__set_autoload(p, want);
	}
	if (bpf_object__load(obj)) { fprintf(stderr, "floor: load failed\n"); return 1; }
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p)) continue;
		if (!bpf_program__attach(p)) { fprintf(stderr, "floor: attach %s failed\n", bpf_program__name(p)); return 1; }
	}
	printf("ready\n");
	fflush(stdout);
	char buf[256];
	while (read(0, buf, sizeof(buf)) > 0) {}
	return 0;
}
