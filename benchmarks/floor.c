/*
 * The C floor: each benchmark op as a tight loop of direct Cryptoki calls, the fastest any binding could be.
 *
 *   floor MODULE TOKEN_LABEL PIN OP SECONDS [ROUNDS]
 *
 * Loads MODULE with dlopen, gets the function list with C_GetFunctionList, initialises it with
 * CKF_OS_LOCKING_OK (so the 2-thread ops are legal), logs in on TOKEN_LABEL, finds the op's key by label
 * with C_FindObjects like any application would, warms up, then runs ROUNDS rounds (default 5) that share
 * SECONDS of wall time and prints the median ops/s on stdout (each round's figure on stderr, after
 * "rounds:"). Failures go to stderr, exit status 2.
 * The inputs (labels, bytes, sizes) match benchmarks/spec.py.
 *
 * Buffers are sized once up front and each call is a single call (no length query first): that is the
 * floor, what a binding that knows the output size could do.
 *
 * Built by the runner: cc -O2 -I include benchmarks/floor.c -o build/bench/floor -ldl -lpthread
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11/cryptoki.h"

/* --- the inputs, as in benchmarks/spec.py ----------------------------------------------------------- */
#define EC_LABEL "bench-ec-p256"
#define RSA_LABEL "bench-rsa-2048"
#define HMAC_LABEL "bench-hmac-sha256"
#define AES_LABEL "bench-aes-256"
#define FIND_LABEL EC_LABEL
#define RANDOM_LEN 32
#define GCM_TAG_BITS 128
#define MAX_THREADS 2
#define CHUNK_SECONDS 0.001

static CK_BYTE digest32[32];   /* bytes(range(32)) */
static CK_BYTE data64[64];     /* bytes(range(64)) */
static CK_BYTE plain1k[1024];  /* i & 0xff */
static CK_BYTE gcm_iv[12];     /* zeros */

static CK_FUNCTION_LIST *f;
static CK_SLOT_ID slot;

static void die(const char *what, CK_RV rv) {
    fprintf(stderr, "%s failed: CKR 0x%08lx\n", what, (unsigned long)rv);
    exit(2);
}

#define CHECK(call, what)                 \
    do {                                  \
        CK_RV rv_ = (call);               \
        if (rv_ != CKR_OK) die(what, rv_); \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- one op on one session: set up once, then `step` does one call ------------------------------------ */
typedef struct Work Work;
typedef void (*StepFn)(Work *);

struct Work {
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE key;
    CK_MECHANISM mech;
    CK_GCM_PARAMS gcm;
    StepFn step;
    /* outputs, sized once */
    CK_BYTE out[2048];
    CK_BYTE label[64], id[64], modulus[512];
    CK_KEY_TYPE key_type;
    CK_BBOOL verify;
    CK_ATTRIBUTE attrs[5];
    CK_ATTRIBUTE find_tpl[2];
    CK_OBJECT_CLASS find_class;
    /* results of a timed run */
    unsigned long long calls;
    double start, end, seconds;
    unsigned long chunk;
};

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label) {
    CK_ATTRIBUTE tpl[2] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_LABEL, (CK_VOID_PTR)label, (CK_ULONG)strlen(label)},
    };
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CHECK(f->C_FindObjectsInit(s, tpl, 2), "C_FindObjectsInit");
    CHECK(f->C_FindObjects(s, found, 2, &n), "C_FindObjects");
    CHECK(f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
    if (n != 1) {
        fprintf(stderr, "expected one object labelled %s, found %lu\n", label, (unsigned long)n);
        exit(2);
    }
    return found[0];
}

static void step_sign(Work *w) {
    CK_ULONG len = sizeof w->out;
    CHECK(f->C_SignInit(w->session, &w->mech, w->key), "C_SignInit");
    const CK_BYTE *data = w->mech.mechanism == CKM_ECDSA ? digest32 : data64;
    CK_ULONG n = w->mech.mechanism == CKM_ECDSA ? sizeof digest32 : sizeof data64;
    CHECK(f->C_Sign(w->session, (CK_BYTE_PTR)data, n, w->out, &len), "C_Sign");
}

static void step_gcm(Work *w) {
    CK_ULONG len = sizeof w->out;
    CHECK(f->C_EncryptInit(w->session, &w->mech, w->key), "C_EncryptInit");
    CHECK(f->C_Encrypt(w->session, plain1k, sizeof plain1k, w->out, &len), "C_Encrypt");
}

static void step_get_attributes(Work *w) {
    w->attrs[0] = (CK_ATTRIBUTE){CKA_LABEL, w->label, sizeof w->label};
    w->attrs[1] = (CK_ATTRIBUTE){CKA_ID, w->id, sizeof w->id};
    w->attrs[2] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &w->key_type, sizeof w->key_type};
    w->attrs[3] = (CK_ATTRIBUTE){CKA_MODULUS, w->modulus, sizeof w->modulus};
    w->attrs[4] = (CK_ATTRIBUTE){CKA_VERIFY, &w->verify, sizeof w->verify};
    CHECK(f->C_GetAttributeValue(w->session, w->key, w->attrs, 5), "C_GetAttributeValue");
}

static void step_find(Work *w) {
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CHECK(f->C_FindObjectsInit(w->session, w->find_tpl, 2), "C_FindObjectsInit");
    CHECK(f->C_FindObjects(w->session, found, 2, &n), "C_FindObjects");
    CHECK(f->C_FindObjectsFinal(w->session), "C_FindObjectsFinal");
    if (n != 1) die("find_by_label: not exactly one match", CKR_GENERAL_ERROR);
    w->key = found[0];
}

static void step_random(Work *w) {
    CHECK(f->C_GenerateRandom(w->session, w->out, RANDOM_LEN), "C_GenerateRandom");
}

static void step_open_close(Work *w) {
    CK_SESSION_HANDLE s;
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), "C_OpenSession");
    CHECK(f->C_CloseSession(s), "C_CloseSession");
    (void)w;
}

/* Prepare `w` for `op` (a single-thread op name); returns 0 if the op is unknown. */
static int prepare(Work *w, const char *op) {
    memset(w, 0, sizeof *w);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &w->session), "C_OpenSession");
    if (strcmp(op, "ecdsa_p256_sign") == 0) {
        w->key = find_one(w->session, CKO_PRIVATE_KEY, EC_LABEL);
        w->mech = (CK_MECHANISM){CKM_ECDSA, NULL, 0};
        w->step = step_sign;
    } else if (strcmp(op, "rsa2048_sign") == 0) {
        w->key = find_one(w->session, CKO_PRIVATE_KEY, RSA_LABEL);
        w->mech = (CK_MECHANISM){CKM_SHA256_RSA_PKCS, NULL, 0};
        w->step = step_sign;
    } else if (strcmp(op, "hmac_sha256_sign") == 0) {
        w->key = find_one(w->session, CKO_SECRET_KEY, HMAC_LABEL);
        w->mech = (CK_MECHANISM){CKM_SHA256_HMAC, NULL, 0};
        w->step = step_sign;
    } else if (strcmp(op, "aes_gcm_encrypt_1k") == 0) {
        w->key = find_one(w->session, CKO_SECRET_KEY, AES_LABEL);
        w->gcm.pIv = gcm_iv;
        w->gcm.ulIvLen = sizeof gcm_iv;
        w->gcm.ulIvBits = 8 * sizeof gcm_iv;
        w->gcm.pAAD = NULL;
        w->gcm.ulAADLen = 0;
        w->gcm.ulTagBits = GCM_TAG_BITS;
        w->mech = (CK_MECHANISM){CKM_AES_GCM, &w->gcm, sizeof w->gcm};
        w->step = step_gcm;
    } else if (strcmp(op, "get_attributes") == 0) {
        w->key = find_one(w->session, CKO_PUBLIC_KEY, RSA_LABEL);
        w->step = step_get_attributes;
    } else if (strcmp(op, "find_by_label") == 0) {
        w->find_class = CKO_PRIVATE_KEY;
        w->find_tpl[0] = (CK_ATTRIBUTE){CKA_CLASS, &w->find_class, sizeof w->find_class};
        w->find_tpl[1] = (CK_ATTRIBUTE){CKA_LABEL, FIND_LABEL, (CK_ULONG)strlen(FIND_LABEL)};
        w->step = step_find;
    } else if (strcmp(op, "random_32") == 0) {
        w->step = step_random;
    } else if (strcmp(op, "open_close_session") == 0) {
        w->step = step_open_close;
    } else {
        return 0;
    }
    return 1;
}

/* Call w->step in chunks until `seconds` pass; records calls, start, end. */
static void run_for(Work *w, unsigned long chunk, double seconds) {
    w->calls = 0;
    w->start = now();
    double deadline = w->start + seconds;
    for (;;) {
        for (unsigned long i = 0; i < chunk; i++) w->step(w);
        w->calls += chunk;
        w->end = now();
        if (w->end >= deadline) return;
    }
}

static void calibrate(Work *w, double warmup) {
    run_for(w, 1, warmup);
    double per_call = (w->end - w->start) / (double)w->calls;
    w->chunk = (unsigned long)(CHUNK_SECONDS / per_call);
    if (w->chunk < 1) w->chunk = 1;
}

static pthread_barrier_t barrier;

static void *thread_main(void *arg) {
    Work *w = arg;
    pthread_barrier_wait(&barrier);
    run_for(w, w->chunk, w->seconds);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static CK_SLOT_ID find_slot(const char *label) {
    CK_ULONG n = 0;
    CHECK(f->C_GetSlotList(CK_TRUE, NULL, &n), "C_GetSlotList");
    CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof *slots);
    if (slots == NULL) die("calloc", CKR_HOST_MEMORY);
    CHECK(f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
    size_t want = strlen(label);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        CHECK(f->C_GetTokenInfo(slots[i], &info), "C_GetTokenInfo");
        size_t len = sizeof info.label;
        while (len > 0 && info.label[len - 1] == ' ') len--;
        if (len == want && memcmp(info.label, label, want) == 0) {
            CK_SLOT_ID found = slots[i];
            free(slots);
            return found;
        }
    }
    fprintf(stderr, "no token labelled %s\n", label);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s MODULE TOKEN_LABEL PIN OP SECONDS [ROUNDS]\n", argv[0]);
        return 2;
    }
    const char *module = argv[1], *token = argv[2], *pin = argv[3];
    char op[64];
    double seconds = atof(argv[5]);
    int rounds = argc == 7 ? atoi(argv[6]) : 5;
    if (seconds <= 0 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "SECONDS must be > 0 and ROUNDS in 1..100\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof digest32; i++) digest32[i] = (CK_BYTE)i;
    for (size_t i = 0; i < sizeof data64; i++) data64[i] = (CK_BYTE)i;
    for (size_t i = 0; i < sizeof plain1k; i++) plain1k[i] = (CK_BYTE)(i & 0xff);

    /* "_2thr" ops: the base op in two threads */
    int threads = 1;
    snprintf(op, sizeof op, "%s", argv[4]);
    size_t oplen = strlen(op);
    if (oplen > 5 && strcmp(op + oplen - 5, "_2thr") == 0) {
        op[oplen - 5] = '\0';
        threads = 2;
    }

    void *handle = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", module, dlerror());
        return 2;
    }
    CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL) {
        fprintf(stderr, "%s has no C_GetFunctionList\n", module);
        return 2;
    }
    CHECK(get_list(&f), "C_GetFunctionList");
    CK_C_INITIALIZE_ARGS init = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CHECK(f->C_Initialize(&init), "C_Initialize");
    slot = find_slot(token);

    CK_SESSION_HANDLE login;
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &login), "C_OpenSession");
    CHECK(f->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin)), "C_Login");

    static Work works[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        if (!prepare(&works[t], op)) {
            fprintf(stderr, "unknown op %s\n", argv[4]);
            return 2;
        }
    }
    double warmup = seconds / 8;
    if (warmup < 0.05) warmup = 0.05;
    if (warmup > 0.25) warmup = 0.25;
    for (int t = 0; t < threads; t++) calibrate(&works[t], warmup);

    double results[100];
    for (int r = 0; r < rounds; r++) {
        double per_round = seconds / rounds;
        if (threads == 1) {
            run_for(&works[0], works[0].chunk, per_round);
            results[r] = (double)works[0].calls / (works[0].end - works[0].start);
            continue;
        }
        pthread_t ids[MAX_THREADS];
        pthread_barrier_init(&barrier, NULL, (unsigned)threads);
        for (int t = 0; t < threads; t++) {
            works[t].seconds = per_round;
            if (pthread_create(&ids[t], NULL, thread_main, &works[t]) != 0) die("pthread_create", CKR_GENERAL_ERROR);
        }
        double start = 0, end = 0, total = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(ids[t], NULL);
            if (t == 0 || works[t].start < start) start = works[t].start;
            if (t == 0 || works[t].end > end) end = works[t].end;
            total += (double)works[t].calls;
        }
        pthread_barrier_destroy(&barrier);
        results[r] = total / (end - start);
    }
    fprintf(stderr, "rounds:");
    for (int r = 0; r < rounds; r++) fprintf(stderr, " %.1f", results[r]);
    fprintf(stderr, "\n");
    qsort(results, (size_t)rounds, sizeof results[0], cmp_double);
    double median = rounds % 2 ? results[rounds / 2] : (results[rounds / 2 - 1] + results[rounds / 2]) / 2;
    printf("%.1f\n", median);

    for (int t = 0; t < threads; t++) f->C_CloseSession(works[t].session);
    f->C_Logout(login);
    f->C_CloseSession(login);
    f->C_Finalize(NULL);
    return 0;
}
