/*
 * p11fault: a fault-injecting PKCS#11 module for tests. It loads a real module and forwards every call to it, except
 * when a rule says otherwise. Real HSMs fail in ways SoftHSM never does (sessions vanish, the device is unplugged,
 * a network HSM answers in milliseconds, a reply claims more bytes than the buffer holds); this module makes SoftHSM
 * fail those ways on demand, so p11 can be tested against them without mocks.
 *
 * Configuration: text, one rule per line (or separated by ';'), '#' starts a comment:
 *
 *   module /usr/lib/softhsm/libsofthsm2.so        the real module (else env P11_FAULT_MODULE)
 *   C_Sign error=DEVICE_ERROR every=3             an error instead of the call (CKR_ prefix optional, or a number);
 *                                                 a call that would end an operation (output buffer given, C_Verify)
 *                                                 is forwarded first and its result dropped: the operation ends, as
 *                                                 the specification says a failed call ends it
 *   C_Sign error=SESSION_CLOSED kill nth=2        ... and make it true first: close the session (USER_NOT_LOGGED_IN:
 *                                                 log out; DEVICE_REMOVED/TOKEN_NOT_PRESENT: close all the slot's
 *                                                 sessions)
 *   C_Sign buffer_too_small                       CKR_BUFFER_TOO_SMALL for every call with a buffer (endless)
 *   C_Sign overlong                               forward, then report 16 bytes more than the buffer holds
 *   C_Sign huge_length                            forward; a size query reports 2^62 bytes
 *   C_GetAttributeValue garbage_lengths seed=1    forward, then scramble every ulValueLen (larger than the buffer,
 *                                                 2^62, ~0-1 or random)
 *   C_Sign latency_us=1000 jitter_us=200          sleep 1000..1200 us BEFORE forwarding (outside the module's locks)
 *   * error=DEVICE_ERROR prob=0.01 seed=42        '*' matches every function
 *
 * Triggers (all given must hold; none means every call): nth=N (only the N-th call of the function since the rule
 * was configured, 1-based), every=K (every K-th), after=N (every call after the N-th), prob=P with seed=S (each
 * call with probability P, from a private xorshift generator: the same seed gives the same sequence), times=M (at
 * most M injections). The first matching non-latency rule wins; latencies of all matching rules add up.
 *
 * Where the configuration comes from: env P11_FAULT_CONFIG (a file name if such a file exists, else the text
 * itself), read when the module is first loaded; and p11fault_configure(text), exported for tests (call it through
 * ctypes on the same path: dlopen returns the same instance). p11fault_calls(name) and p11fault_injected(name)
 * count calls and injected faults per function (name NULL: all functions); p11fault_open_sessions() counts the
 * sessions opened through the shim and not closed yet (SoftHSM reports no session count).
 *
 * Exports C_GetFunctionList and C_GetInterface (a 2.40 "PKCS 11" interface; the wrapped module may be 2.40 only).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "p11/cryptoki.h"

#define EXPORT __attribute__((visibility("default")))

/* Every function of the 2.40 list, in order: X(name, parameters, arguments, session, output, output length).
 * `session` is the session handle argument (0 when there is none), `output`/`output length` the caller's output
 * buffer and its length pointer for the functions that follow the two-call convention. */
#define NOS ((CK_SESSION_HANDLE)0)
#define NOB ((CK_BYTE_PTR)NULL)
#define NOL ((CK_ULONG_PTR)NULL)
#define FUNCTIONS(X) \
    X(C_Initialize, (CK_VOID_PTR a), (a), NOS, NOB, NOL) \
    X(C_Finalize, (CK_VOID_PTR a), (a), NOS, NOB, NOL) \
    X(C_GetInfo, (CK_INFO_PTR a), (a), NOS, NOB, NOL) \
    X(C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c), (a, b, c), NOS, NOB, NOL) \
    X(C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b), NOS, NOB, NOL) \
    X(C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b), NOS, NOB, NOL) \
    X(C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c), (a, b, c), NOS, NOB, NOL) \
    X(C_GetMechanismInfo, (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c), (a, b, c), NOS, NOB, NOL) \
    X(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d), (a, b, c, d), NOS, NOB, NOL) \
    X(C_InitPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_SetPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e), \
      (h, b, c, d, e), h, NOB, NOL) \
    X(C_OpenSession, (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d, CK_SESSION_HANDLE_PTR e), \
      (a, b, c, d, e), NOS, NOB, NOL) \
    X(C_CloseSession, (CK_SESSION_HANDLE h), (h), h, NOB, NOL) \
    X(C_CloseAllSessions, (CK_SLOT_ID a), (a), NOS, NOB, NOL) \
    X(C_GetSessionInfo, (CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR b), (h, b), h, NOB, NOL) \
    X(C_GetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG_PTR c), (h, b, c), h, b, c) \
    X(C_SetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e), \
      (h, b, c, d, e), h, NOB, NOL) \
    X(C_Login, (CK_SESSION_HANDLE h, CK_USER_TYPE b, CK_UTF8CHAR_PTR c, CK_ULONG d), (h, b, c, d), h, NOB, NOL) \
    X(C_Logout, (CK_SESSION_HANDLE h), (h), h, NOB, NOL) \
    X(C_CreateObject, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), (h, b, c, d), \
      h, NOB, NOL) \
    X(C_CopyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, \
      CK_OBJECT_HANDLE_PTR e), (h, b, c, d, e), h, NOB, NOL) \
    X(C_DestroyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE b), (h, b), h, NOB, NOL) \
    X(C_GetObjectSize, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE b, CK_ULONG_PTR c), (h, b, c), h, NOB, NOL) \
    X(C_GetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), \
      (h, b, c, d), h, NOB, NOL) \
    X(C_SetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), \
      (h, b, c, d), h, NOB, NOL) \
    X(C_FindObjectsInit, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_FindObjects, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR b, CK_ULONG c, CK_ULONG_PTR d), (h, b, c, d), \
      h, NOB, NOL) \
    X(C_FindObjectsFinal, (CK_SESSION_HANDLE h), (h), h, NOB, NOL) \
    X(C_EncryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (h, b, c), h, NOB, NOL) \
    X(C_Encrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (h, b, c, d, e), \
      h, d, e) \
    X(C_EncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_EncryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG_PTR c), (h, b, c), h, b, c) \
    X(C_DecryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (h, b, c), h, NOB, NOL) \
    X(C_Decrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (h, b, c, d, e), \
      h, d, e) \
    X(C_DecryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_DecryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG_PTR c), (h, b, c), h, b, c) \
    X(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b), (h, b), h, NOB, NOL) \
    X(C_Digest, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (h, b, c, d, e), \
      h, d, e) \
    X(C_DigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE b), (h, b), h, NOB, NOL) \
    X(C_DigestFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG_PTR c), (h, b, c), h, b, c) \
    X(C_SignInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (h, b, c), h, NOB, NOL) \
    X(C_Sign, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (h, b, c, d, e), \
      h, d, e) \
    X(C_SignUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_SignFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG_PTR c), (h, b, c), h, b, c) \
    X(C_SignRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (h, b, c), h, NOB, NOL) \
    X(C_SignRecover, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_VerifyInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (h, b, c), h, NOB, NOL) \
    X(C_Verify, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e), (h, b, c, d, e), \
      h, NOB, NOL) \
    X(C_VerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_VerifyFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_VerifyRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (h, b, c), h, NOB, NOL) \
    X(C_VerifyRecover, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_DigestEncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_DecryptDigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_SignEncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (h, b, c, d, e), h, d, e) \
    X(C_GenerateKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, \
      CK_OBJECT_HANDLE_PTR e), (h, b, c, d, e), h, NOB, NOL) \
    X(C_GenerateKeyPair, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, \
      CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR i), (h, b, c, d, e, f, g, i), \
      h, NOB, NOL) \
    X(C_WrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e, \
      CK_ULONG_PTR f), (h, b, c, d, e, f), h, e, f) \
    X(C_UnwrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, \
      CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR i), (h, b, c, d, e, f, g, i), h, NOB, NOL) \
    X(C_DeriveKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e, \
      CK_OBJECT_HANDLE_PTR f), (h, b, c, d, e, f), h, NOB, NOL) \
    X(C_SeedRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_GenerateRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG c), (h, b, c), h, NOB, NOL) \
    X(C_GetFunctionStatus, (CK_SESSION_HANDLE h), (h), h, NOB, NOL) \
    X(C_CancelFunction, (CK_SESSION_HANDLE h), (h), h, NOB, NOL) \
    X(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), (a, b, c), NOS, NOB, NOL)

enum {
#define X_ENUM(name, params, args, sess, out, outlen) FN_##name,
    FUNCTIONS(X_ENUM)
#undef X_ENUM
    FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define X_NAME(name, params, args, sess, out, outlen) #name,
    FUNCTIONS(X_NAME)
#undef X_NAME
};

enum action { A_NONE, A_ERROR, A_TOO_SMALL, A_OVERLONG, A_HUGE, A_GARBAGE, A_LATENCY };

struct rule {
    int fn; /* -1: every function */
    enum action action;
    CK_RV rv;
    int kill;
    unsigned long nth, every, after, times;
    double prob;
    uint64_t rng;
    unsigned long latency_us, jitter_us;
    unsigned long seen, fired;
};

struct decision {
    enum action action;
    CK_RV rv;
    int kill;
    unsigned long sleep_us;
    uint64_t noise; /* a random word for the corruptions, from the rule's generator */
};

#define MAX_RULES 64
static struct rule rules[MAX_RULES];
static int n_rules;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long calls[FN_COUNT], injected[FN_COUNT];
static char last_error[256];

/* Sessions opened through the shim and not closed yet (handle, slot): "no session left open" is checked here, since
 * SoftHSM reports no session count. */
#define MAX_TRACKED 4096
static struct { CK_SESSION_HANDLE h; CK_SLOT_ID slot; } open_sessions[MAX_TRACKED];
static int n_open;

static void track_open(CK_SLOT_ID slot, CK_SESSION_HANDLE h) {
    pthread_mutex_lock(&mu);
    if (n_open < MAX_TRACKED) open_sessions[n_open].h = h, open_sessions[n_open++].slot = slot;
    pthread_mutex_unlock(&mu);
}

/* Forgets one session (all_of_slot 0) or every session of a slot (all_of_slot 1). */
static void track_close(CK_SESSION_HANDLE h, CK_SLOT_ID slot, int all_of_slot) {
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_open;) {
        if (all_of_slot ? open_sessions[i].slot == slot : open_sessions[i].h == h)
            open_sessions[i] = open_sessions[--n_open];
        else
            i++;
    }
    pthread_mutex_unlock(&mu);
}

static CK_FUNCTION_LIST *real;
static void *real_handle;
static char module_path[4096];

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const struct {
    const char *name;
    CK_RV rv;
} rv_names[] = {
    {"DEVICE_ERROR", CKR_DEVICE_ERROR},
    {"DEVICE_MEMORY", CKR_DEVICE_MEMORY},
    {"SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID},
    {"SESSION_CLOSED", CKR_SESSION_CLOSED},
    {"DEVICE_REMOVED", CKR_DEVICE_REMOVED},
    {"TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT},
    {"USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN},
    {"OPERATION_ACTIVE", CKR_OPERATION_ACTIVE},
    {"PIN_LOCKED", CKR_PIN_LOCKED},
    {"BUFFER_TOO_SMALL", CKR_BUFFER_TOO_SMALL},
    {"GENERAL_ERROR", CKR_GENERAL_ERROR},
    {"FUNCTION_FAILED", CKR_FUNCTION_FAILED},
    {"HOST_MEMORY", CKR_HOST_MEMORY},
    {"SESSION_COUNT", CKR_SESSION_COUNT},
    {"KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID},
    {"OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID},
    {"CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED},
};

static int parse_rv(const char *s, CK_RV *out) {
    if (strncmp(s, "CKR_", 4) == 0) s += 4;
    for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++)
        if (strcmp(s, rv_names[i].name) == 0) return *out = rv_names[i].rv, 0;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_ulong(const char *s, unsigned long *out) {
    char *end;
    errno = 0;
    *out = strtoul(s, &end, 0);
    return (errno || end == s || *end) ? -1 : 0;
}

/* One rule: "<function|*> <action> [key=value|kill]...". Returns 0, or -1 with last_error set. */
static int parse_rule(char *line, struct rule *r) {
    memset(r, 0, sizeof *r);
    char *save = NULL, *tok = strtok_r(line, " \t", &save);
    if (strcmp(tok, "*") == 0) {
        r->fn = -1;
    } else {
        r->fn = -2;
        for (int i = 0; i < FN_COUNT; i++)
            if (strcmp(tok, fn_names[i]) == 0) r->fn = i;
        if (r->fn == -2) return snprintf(last_error, sizeof last_error, "unknown function %s", tok), -1;
    }
    while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        char *val = eq ? eq + 1 : NULL;
        if (eq) *eq = 0;
        int bad = 0;
        if (strcmp(tok, "error") == 0 && val) {
            r->action = A_ERROR;
            bad = parse_rv(val, &r->rv);
        } else if (strcmp(tok, "buffer_too_small") == 0 && !val) {
            r->action = A_TOO_SMALL;
        } else if (strcmp(tok, "overlong") == 0 && !val) {
            r->action = A_OVERLONG;
        } else if (strcmp(tok, "huge_length") == 0 && !val) {
            r->action = A_HUGE;
        } else if (strcmp(tok, "garbage_lengths") == 0 && !val) {
            r->action = A_GARBAGE;
        } else if (strcmp(tok, "kill") == 0 && !val) {
            r->kill = 1;
        } else if (strcmp(tok, "latency_us") == 0 && val) {
            r->action = A_LATENCY;
            bad = parse_ulong(val, &r->latency_us);
        } else if (strcmp(tok, "jitter_us") == 0 && val) {
            bad = parse_ulong(val, &r->jitter_us);
        } else if (strcmp(tok, "nth") == 0 && val) {
            bad = parse_ulong(val, &r->nth);
        } else if (strcmp(tok, "every") == 0 && val) {
            bad = parse_ulong(val, &r->every);
        } else if (strcmp(tok, "after") == 0 && val) {
            bad = parse_ulong(val, &r->after);
        } else if (strcmp(tok, "times") == 0 && val) {
            bad = parse_ulong(val, &r->times);
        } else if (strcmp(tok, "seed") == 0 && val) {
            unsigned long seed;
            bad = parse_ulong(val, &seed);
            r->rng = seed * 0x9E3779B97F4A7C15ull + 1;
        } else if (strcmp(tok, "prob") == 0 && val) {
            char *end;
            r->prob = strtod(val, &end);
            bad = end == val || *end || r->prob < 0 || r->prob > 1;
        } else {
            bad = 1;
        }
        if (bad) return snprintf(last_error, sizeof last_error, "bad setting %s%s%s", tok, val ? "=" : "",
                                 val ? val : ""), -1;
    }
    if (r->action == A_NONE) return snprintf(last_error, sizeof last_error, "rule without an action"), -1;
    return 0;
}

/* Replaces every rule (and the module path, when given) by those of `text`; counters restart. */
EXPORT int p11fault_configure(const char *text) {
    struct rule parsed[MAX_RULES];
    int n = 0;
    char path[sizeof module_path] = "";
    char *copy = strdup(text ? text : ""), *save = NULL;
    if (!copy) return -1;
    for (char *line = strtok_r(copy, "\n;", &save); line; line = strtok_r(NULL, "\n;", &save)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        while (*line == ' ' || *line == '\t') line++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (strncmp(line, "module ", 7) == 0) {
            snprintf(path, sizeof path, "%s", line + 7);
            continue;
        }
        if (n == MAX_RULES) {
            snprintf(last_error, sizeof last_error, "more than %d rules", MAX_RULES);
            free(copy);
            return -1;
        }
        if (parse_rule(line, &parsed[n]) != 0) {
            free(copy);
            return -1;
        }
        n++;
    }
    free(copy);
    pthread_mutex_lock(&mu);
    memcpy(rules, parsed, sizeof(struct rule) * (size_t)n);
    n_rules = n;
    memset(calls, 0, sizeof calls);
    memset(injected, 0, sizeof injected);
    if (*path) memcpy(module_path, path, sizeof path);
    pthread_mutex_unlock(&mu);
    return 0;
}

EXPORT const char *p11fault_last_error(void) { return last_error; }

static unsigned long count_of(const unsigned long *table, const char *name) {
    unsigned long total = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < FN_COUNT; i++)
        if (!name || strcmp(name, fn_names[i]) == 0) total += table[i];
    pthread_mutex_unlock(&mu);
    return total;
}

EXPORT unsigned long p11fault_open_sessions(void) {
    pthread_mutex_lock(&mu);
    unsigned long n = (unsigned long)n_open;
    pthread_mutex_unlock(&mu);
    return n;
}

EXPORT unsigned long p11fault_calls(const char *name) { return count_of(calls, name); }
EXPORT unsigned long p11fault_injected(const char *name) { return count_of(injected, name); }

static void decide(int fn, struct decision *d) {
    memset(d, 0, sizeof *d);
    pthread_mutex_lock(&mu);
    calls[fn]++;
    for (int i = 0; i < n_rules; i++) {
        struct rule *r = &rules[i];
        if (r->fn != -1 && r->fn != fn) continue;
        r->seen++;
        uint64_t word = xorshift(&r->rng);
        int fires = (!r->nth || r->seen == r->nth) && (!r->every || r->seen % r->every == 0) &&
                    (!r->after || r->seen > r->after) && (r->prob <= 0 || (double)(word >> 11) / 9007199254740992.0 < r->prob) &&
                    (!r->times || r->fired < r->times);
        if (!fires) continue;
        if (r->action == A_LATENCY) {
            r->fired++;
            d->sleep_us += r->latency_us + (r->jitter_us ? xorshift(&r->rng) % (r->jitter_us + 1) : 0);
        } else if (d->action == A_NONE) {
            r->fired++;
            d->action = r->action;
            d->rv = r->rv;
            d->kill = r->kill;
            d->noise = xorshift(&r->rng);
        }
    }
    if (d->action != A_NONE) injected[fn]++;
    pthread_mutex_unlock(&mu);
}

static void sleep_us(unsigned long us) {
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Makes an injected session error true before reporting it, so the caller meets the state it claims. */
static void make_true(CK_RV rv, CK_SESSION_HANDLE h) {
    if (!h) return;
    if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) {
        if (real->C_CloseSession(h) == CKR_OK) track_close(h, 0, 0);
    } else if (rv == CKR_USER_NOT_LOGGED_IN) {
        real->C_Logout(h);
    } else if (rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT) {
        CK_SESSION_INFO info;
        if (real->C_GetSessionInfo(h, &info) == CKR_OK && real->C_CloseAllSessions(info.slotID) == CKR_OK)
            track_close(0, info.slotID, 1);
    }
}

#define HUGE_LENGTH (((CK_ULONG)1) << 62)

#define X_WRAP(name, params, args, sess, out, outlen)                                       \
    __attribute__((unused)) static CK_RV w_##name params {                                 \
        struct decision dd_;                                                                 \
        decide(FN_##name, &dd_);                                                             \
        if (dd_.sleep_us) sleep_us(dd_.sleep_us);                                              \
        if (dd_.action == A_ERROR) {                                                         \
            if ((out) != NULL || FN_##name == FN_C_Verify || FN_##name == FN_C_VerifyFinal)      \
                (void)real->name args; /* the failed call ends the operation, as a real one would */ \
            if (dd_.kill) make_true(dd_.rv, sess);                                             \
            return dd_.rv;                                                                   \
        }                                                                                  \
        CK_ULONG given_ = (outlen) != NULL ? *(outlen) : 0;                                 \
        if (dd_.action == A_TOO_SMALL && (out) != NULL) return CKR_BUFFER_TOO_SMALL;         \
        CK_RV rv_ = real->name args;                                                        \
        if (rv_ == CKR_OK && (outlen) != NULL) {                                            \
            if (dd_.action == A_OVERLONG && (out) != NULL) *(outlen) = given_ + 16;           \
            if (dd_.action == A_HUGE && (out) == NULL) *(outlen) = HUGE_LENGTH;              \
        }                                                                                  \
        return rv_;                                                                        \
    }
FUNCTIONS(X_WRAP)

/* C_GetAttributeValue with the corruptions that concern templates (its lengths live in the template): this one
 * replaces the generic wrapper in the list. */
static CK_RV w_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
    struct decision d;
    decide(FN_C_GetAttributeValue, &d);
    if (d.sleep_us) sleep_us(d.sleep_us);
    if (d.action == A_ERROR) {
        if (d.kill) make_true(d.rv, h);
        return d.rv;
    }
    int any_buffer = 0;
    for (CK_ULONG i = 0; t && i < n; i++) any_buffer |= t[i].pValue != NULL;
    if (d.action == A_TOO_SMALL && any_buffer) return CKR_BUFFER_TOO_SMALL;
    CK_ULONG small[16], *given = n <= 16 ? small : malloc(sizeof(CK_ULONG) * n);
    if (!given) return CKR_HOST_MEMORY;
    for (CK_ULONG i = 0; t && i < n; i++) given[i] = t[i].ulValueLen;
    CK_RV rv = real->C_GetAttributeValue(h, o, t, n);
    uint64_t noise = d.noise;
    for (CK_ULONG i = 0; t && i < n && (d.action == A_OVERLONG || d.action == A_HUGE || d.action == A_GARBAGE); i++) {
        if (d.action == A_OVERLONG) {
            if (t[i].pValue) t[i].ulValueLen = given[i] + 16;
        } else if (d.action == A_HUGE) {
            if (!t[i].pValue) t[i].ulValueLen = HUGE_LENGTH;
        } else {
            switch (xorshift(&noise) % 4) {
            case 0: t[i].ulValueLen = t[i].pValue ? given[i] + 1 + xorshift(&noise) % 4096 : HUGE_LENGTH; break;
            case 1: t[i].ulValueLen = HUGE_LENGTH + (xorshift(&noise) & 0xffff); break;
            case 2: t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION - 1; break;
            default: t[i].ulValueLen = (CK_ULONG)(xorshift(&noise) & 0xffffffffu); break;
            }
        }
    }
    if (given != small) free(given);
    return rv;
}

/* The session-tracking layer over the generic wrappers. */
static CK_RV t_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ph) {
    CK_RV rv = w_C_OpenSession(slot, flags, app, notify, ph);
    if (rv == CKR_OK && ph) track_open(slot, *ph);
    return rv;
}

static CK_RV t_CloseSession(CK_SESSION_HANDLE h) {
    CK_RV rv = w_C_CloseSession(h);
    if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) track_close(h, 0, 0);
    return rv;
}

static CK_RV t_CloseAllSessions(CK_SLOT_ID slot) {
    CK_RV rv = w_C_CloseAllSessions(slot);
    if (rv == CKR_OK) track_close(0, slot, 1);
    return rv;
}

static CK_RV t_Finalize(CK_VOID_PTR reserved) {
    CK_RV rv = w_C_Finalize(reserved);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&mu);
        n_open = 0;
        pthread_mutex_unlock(&mu);
    }
    return rv;
}

static CK_FUNCTION_LIST wrapped;
static CK_RV w_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp);

static void fill_list(void) {
    wrapped.version = real->version;
    if (wrapped.version.major > 2) wrapped.version = (CK_VERSION){2, 40};
#define X_SET(name, params, args, sess, out, outlen) wrapped.name = w_##name;
    FUNCTIONS(X_SET)
#undef X_SET
    wrapped.C_GetAttributeValue = w_attr;
    wrapped.C_OpenSession = t_OpenSession;
    wrapped.C_CloseSession = t_CloseSession;
    wrapped.C_CloseAllSessions = t_CloseAllSessions;
    wrapped.C_Finalize = t_Finalize;
    wrapped.C_GetFunctionList = w_GetFunctionList;
}

/* fork(): the child must not inherit `mu` held by a thread of the parent. */
static void before_fork(void) { pthread_mutex_lock(&mu); }
static void after_fork(void) { pthread_mutex_unlock(&mu); }

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_rv = CKR_GENERAL_ERROR;

static void load_real(void) {
    const char *cfg = getenv("P11_FAULT_CONFIG");
    if (cfg && *cfg) {
        struct stat st;
        char *text = NULL;
        if (stat(cfg, &st) == 0 && S_ISREG(st.st_mode)) {
            FILE *f = fopen(cfg, "r");
            text = f ? calloc(1, (size_t)st.st_size + 1) : NULL;
            if (text && fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) *text = 0;
            if (f) fclose(f);
        }
        if (p11fault_configure(text ? text : cfg) != 0) {
            fprintf(stderr, "p11fault: P11_FAULT_CONFIG: %s\n", last_error);
            free(text);
            return;
        }
        free(text);
    }
    const char *env = getenv("P11_FAULT_MODULE");
    if (!*module_path && env) snprintf(module_path, sizeof module_path, "%s", env);
    if (!*module_path) {
        fprintf(stderr, "p11fault: no module to wrap (P11_FAULT_MODULE or 'module PATH' in P11_FAULT_CONFIG)\n");
        return;
    }
    real_handle = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!real_handle) {
        fprintf(stderr, "p11fault: %s\n", dlerror());
        return;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(real_handle, "C_GetFunctionList");
    if (!get || get(&real) != CKR_OK || !real) {
        fprintf(stderr, "p11fault: %s has no usable C_GetFunctionList\n", module_path);
        return;
    }
    fill_list();
    pthread_atfork(before_fork, after_fork, after_fork);
    load_rv = CKR_OK;
}

static CK_RV w_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp) {
    if (!pp) return CKR_ARGUMENTS_BAD;
    pthread_once(&load_once, load_real);
    if (load_rv != CKR_OK) return load_rv;
    *pp = &wrapped;
    return CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp) { return w_GetFunctionList(pp); }

static CK_INTERFACE interface = {(CK_UTF8CHAR_PTR) "PKCS 11", &wrapped, 0};

EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count) {
    if (!count) return CKR_ARGUMENTS_BAD;
    pthread_once(&load_once, load_real);
    if (load_rv != CKR_OK) return load_rv;
    if (!list) return *count = 1, CKR_OK;
    if (*count < 1) return *count = 1, CKR_BUFFER_TOO_SMALL;
    list[0] = interface;
    *count = 1;
    return CKR_OK;
}

EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, CK_INTERFACE_PTR_PTR pp, CK_FLAGS flags) {
    if (!pp) return CKR_ARGUMENTS_BAD;
    pthread_once(&load_once, load_real);
    if (load_rv != CKR_OK) return load_rv;
    if (name && strcmp((const char *)name, "PKCS 11") != 0) return CKR_ARGUMENTS_BAD;
    if (version && (version->major != wrapped.version.major || version->minor != wrapped.version.minor))
        return CKR_ARGUMENTS_BAD;
    if (flags) return CKR_ARGUMENTS_BAD;
    *pp = &interface;
    return CKR_OK;
}
