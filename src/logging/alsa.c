/*
 * The ALSA library's error handler, which hands each message to Rust (alsa.rs) formatted.
 * ALSA's handler type is a C variadic function, which stable Rust can call but not define; this
 * shim only formats and forwards, and never prints or allocates.
 */
#include <stdarg.h>
#include <stdio.h>

void open_nsynth_alsa_message(const char *file, int line, const char *function, int err,
                              const char *message);

void open_nsynth_alsa_error(const char *file, int line, const char *function, int err,
                            const char *fmt, ...)
{
    /* ALSA's messages are one short line; a longer one is cut, not dropped. */
    char message[1024] = "";
    va_list args;

    if (fmt != NULL) {
        va_start(args, fmt);
        vsnprintf(message, sizeof message, fmt, args);
        va_end(args);
    }
    open_nsynth_alsa_message(file, line, function, err, message);
}
