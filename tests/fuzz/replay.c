/* Replays fuzz corpora without libFuzzer, so that `make test` (gcc, ASan)
 * runs every saved input and every past crash as a regression test.
 * Usage: fuzz-replay/<target> DIR... ; prints one TAP line per directory. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    /* Exact-size heap copy so ASan sees any read past the input. */
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int test = 0;
    printf("1..%d\n", argc - 1);
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        int count = 0;
        if (d) {
            struct dirent *e;
            char path[4096];
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
                if (replay_file(path) == 0)
                    count++;
            }
            closedir(d);
        }
        /* The corpus (first directory) must hold inputs; crash directories
         * may be missing or empty. */
        int ok = count > 0 || i > 1;
        printf("%sok %d - %s (%d inputs replayed)\n", ok ? "" : "not ", ++test, argv[i], count);
    }
    return 0;
}
