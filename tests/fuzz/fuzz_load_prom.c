/* fuzz_load_prom: arbitrary bytes as the /metrics page palabre-load reads
 * (bench/load/scrape.c load_prom_value: the server under test writes it).
 * Whatever it finds is a number read from the page; no read past its end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the tool's sources are not in libpalabre.a: build the one under test here */
#include "../../bench/load/scrape.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* libcurl's body, NUL-terminated by load_scrape */
    static const char *const names[] = {"palabre_media_bwe_subscribers",
                                        "palabre_media_bwe_estimate_avg_bps", "a", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        double v;
        int rc = load_prom_value(text, names[i], &v);
        if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
            abort();
    }
    free(text);
    return 0;
}
