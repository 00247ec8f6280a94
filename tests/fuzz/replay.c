/* replay.c: a stand-in for libFuzzer's main. Runs every file named on the command line,
 * or every file in a named directory, through LLVMFuzzerTestOneInput once, so the seed
 * corpus (and any crash a fuzzer found) replays as an ordinary test with any compiler. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define INPUT_MAX (16u * 1024 * 1024)

/* Each input gets a buffer of exactly its size, so a sanitizer sees any over-read. */
static bool replay_file(const char *path, size_t *count)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL || fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
			(size_t)st.st_size > INPUT_MAX) {
		fprintf(stderr, "replay: %s: %s\n", path, f == NULL ? strerror(errno) : "unusable");
		if (f != NULL)
			fclose(f);
		return false;
	}
	n = (size_t)st.st_size;
	buf = malloc(n > 0 ? n : 1);
	if (buf == NULL || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "replay: %s: read failed\n", path);
		free(buf);
		fclose(f);
		return false;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	(*count)++;
	return true;
}

static bool replay_dir(const char *dir, size_t *count)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	bool ok = true;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return false;
	}
	while (ok && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			ok = replay_file(path, count);
	}
	closedir(d);
	return ok;
}

int main(int argc, char **argv)
{
	struct stat st;
	size_t count = 0;

	for (int i = 1; i < argc; i++) {
		bool ok = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ?
			replay_dir(argv[i], &count) : replay_file(argv[i], &count);
		if (!ok)
			return 1;
	}
	printf("replayed %zu inputs\n", count);
	/* An empty run means a wrong path, not a pass. */
	return count > 0 ? 0 : 1;
}
