/* bench_chat_store: what group commit buys. Stores the same number of chat
 * messages with batches of 1, 10 and 100 sends per flush (one transaction and
 * one WAL fsync per flush, synchronous=FULL), side by side in one run, in a
 * fresh database under /tmp.
 *
 *   bench_chat_store [messages]      (default 1000)
 *
 * Prints messages/s and µs per message for each batch size, and the ratio to
 * batch 1. */
#include "palabre/chat_store.h"
#include "palabre/common.h"
#include "palabre/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_stored(void *ud, int err, const struct pal_chat_message *msg, bool duplicate)
{
    if (err)
        (*(int *)ud)++;
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 1000;
    const int batches[] = {1, 10, 100};
    double rate[3];
    char dir[] = "/tmp/pal-bench-store-XXXXXX";
    if (total < 100 || !mkdtemp(dir))
        return 2;
    pal_log_set_level(PAL_LOG_WARN);
    struct pal_chat_store *cs = pal_chat_store_open(dir);
    if (!cs)
        return 1;
    int errors = 0;
    char text[80], cid[48];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (size_t b = 0; b < PAL_ARRAY_LEN(batches); b++) {
        int64_t t0 = pal_now_us();
        for (int i = 0; i < total; i++) {
            snprintf(cid, sizeof(cid), "%zu-%d", b, i);
            pal_chat_store_submit(cs, "bench", "p_0123456789ab", "Alice", text, cid, on_stored,
                                  &errors);
            if ((i + 1) % batches[b] == 0)
                pal_chat_store_flush(cs);
        }
        pal_chat_store_flush(cs);
        double s = (double)(pal_now_us() - t0) / 1e6;
        rate[b] = total / s;
        printf("batch=%-4d messages=%d seconds=%.3f messages_per_s=%.0f us_per_message=%.1f "
               "speedup_vs_batch1=%.1f\n",
               batches[b], total, s, rate[b], 1e6 * s / total, rate[b] / rate[0]);
    }
    pal_chat_store_close(cs);
    char path[128];
    const char *files[] = {"palabre.db", "palabre.db-wal", "palabre.db-shm"};
    for (size_t i = 0; i < PAL_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return errors ? 1 : 0;
}
