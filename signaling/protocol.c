/* Field validators and response envelopes (docs/protocol.md). Each
 * *_or_reply helper sends the error itself (bad_field or missing_field,
 * naming the field) and returns NULL/false, so handlers read as a list of
 * fields. */
#include "palabre/protocol.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "palabre/common.h"

/* Hand-written: jansson validates UTF-8 while parsing but does not export its
 * checker, and we also need the code point count and the control-character
 * rule in one pass. */
int pal_text_check(const char *s, size_t len, bool allow_nl_tab, size_t *chars, const char **why)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 0;
    while (p < end) {
        uint32_t c = *p;
        int extra;
        uint32_t min;
        if (c < 0x80) {
            extra = 0;
            min = 0;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            min = 0x80;
            c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            min = 0x800;
            c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            *why = "not valid UTF-8";
            return -EINVAL;
        }
        if (end - p <= extra) {
            *why = "not valid UTF-8 (truncated sequence)";
            return -EINVAL;
        }
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                *why = "not valid UTF-8";
                return -EINVAL;
            }
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            *why = "not valid UTF-8";
            return -EINVAL;
        }
        bool control = c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
        if (control && !(allow_nl_tab && (c == '\n' || c == '\t'))) {
            *why = allow_nl_tab ? "control characters other than \\n and \\t are not allowed"
                                : "control characters are not allowed";
            return -EINVAL;
        }
        p += extra + 1;
        n++;
    }
    *chars = n;
    return 0;
}

json_t *pal_response_ok(json_t *id, json_t *data)
{
    return json_pack("{s:s, s:O, s:b, s:o}", "type", "response", "id", id ? id : json_null(), "ok",
                     1, "data", data ? data : json_object());
}

json_t *pal_response_error(json_t *id, const char *code, const char *field, const char *message)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message ? message : code);
    if (field)
        json_object_set_new(err, "field", json_string(field));
    return json_pack("{s:s, s:O, s:b, s:o}", "type", "response", "id", id ? id : json_null(), "ok",
                     0, "error", err);
}

static const char *string_checked(struct pal_session *s, json_t *id, json_t *req, const char *field,
                                  size_t min_chars, size_t max_chars, bool required,
                                  bool allow_nl_tab)
{
    json_t *v = json_object_get(req, field);
    if (!v) {
        if (required)
            pal_session_reply_error(s, id, "missing_field", field, "%s: required", field);
        return NULL;
    }
    if (!json_is_string(v)) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: expected a string", field);
        return NULL;
    }
    const char *str = json_string_value(v);
    size_t len = json_string_length(v), chars;
    const char *why;
    if (strlen(str) != len) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: contains NUL", field);
        return NULL;
    }
    if (pal_text_check(str, len, allow_nl_tab, &chars, &why)) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: %s", field, why);
        return NULL;
    }
    if (chars < min_chars || chars > max_chars) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: %zu to %zu characters, got %zu",
                                field, min_chars, max_chars, chars);
        return NULL;
    }
    return str;
}

const char *pal_string_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                                size_t min_chars, size_t max_chars, bool required)
{
    return string_checked(s, id, req, field, min_chars, max_chars, required, false);
}

const char *pal_text_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                              size_t max_chars)
{
    return string_checked(s, id, req, field, 1, max_chars, true, true);
}

const char *pal_room_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field)
{
    json_t *v = json_object_get(req, field);
    if (!v) {
        pal_session_reply_error(s, id, "missing_field", field, "%s: required", field);
        return NULL;
    }
    const char *str = json_string_value(v);
    size_t len = str ? strlen(str) : 0;
    bool ok = str && len >= 1 && len <= 64 && len == json_string_length(v);
    for (size_t i = 0; ok && i < len; i++) {
        char c = str[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    }
    if (!ok) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: 1 to 64 of [a-z0-9-]", field);
        return NULL;
    }
    return str;
}

bool pal_receive_mode_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                               bool required, bool *mixed)
{
    if (!required && !json_object_get(req, field))
        return false;
    const char *mode = pal_string_or_reply(s, id, req, field, 1, 16, true);
    if (!mode)
        return false;
    if (strcmp(mode, "mixed") && strcmp(mode, "sfu")) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: sfu or mixed", field);
        return false;
    }
    *mixed = !strcmp(mode, "mixed");
    return true;
}

bool pal_bool_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                       bool required, bool *out)
{
    json_t *v = json_object_get(req, field);
    if (!v) {
        if (required)
            pal_session_reply_error(s, id, "missing_field", field, "%s: required", field);
        return false;
    }
    if (!json_is_boolean(v)) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: expected true or false", field);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool pal_int_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                      json_int_t min, json_int_t max, bool required, json_int_t *out)
{
    json_t *v = json_object_get(req, field);
    if (!v) {
        if (required)
            pal_session_reply_error(s, id, "missing_field", field, "%s: required", field);
        return false;
    }
    if (!json_is_integer(v)) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: expected an integer", field);
        return false;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        pal_session_reply_error(s, id, "bad_field", field,
                                "%s: expected %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                                ", got %" JSON_INTEGER_FORMAT,
                                field, min, max, n);
        return false;
    }
    *out = n;
    return true;
}

int pal_request_id_or_reply(struct pal_session *s, json_t *req, json_t **id_out)
{
    *id_out = NULL;
    json_t *id = json_object_get(req, "id");
    if (!id) {
        pal_session_reply_error(s, NULL, "missing_field", "id", "id: required");
        return -EINVAL;
    }
    if (json_is_integer(id)) {
        *id_out = id;
        return 0;
    }
    if (json_is_string(id)) {
        size_t chars;
        const char *why;
        const char *v = json_string_value(id);
        if (json_string_length(id) == strlen(v) &&
            pal_text_check(v, strlen(v), false, &chars, &why) == 0 && chars <= PAL_ID_MAX) {
            *id_out = id;
            return 0;
        }
    }
    pal_session_reply_error(s, NULL, "bad_field", "id",
                            "id: an integer or a string of at most 64 characters");
    return -EINVAL;
}
