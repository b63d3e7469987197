/* Placeholder entry point; the signaling server replaces it. */
#include <stdio.h>
#include "palabre/common.h"
int main(void)
{
    printf("palabre %s\n", PAL_VERSION);
    return 0;
}
