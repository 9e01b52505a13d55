/*
 * demo.c - three hearsay nodes on loopback, driven through the C API.
 *
 * Starts nodes a, b and c (b and c with a as their seed), waits until each
 * sees the other two live, sets keys on each and reads them on the others,
 * lists a's live members, follows a's events, stops c without warning and
 * waits for a and b to find it dead, then lets b leave gracefully and
 * waits for a to see it leave. Then, with cluster keys: nodes k1 and k2
 * share a key and converge, k3 has another key and never joins them, and
 * k1 and k2 rotate to a new key (install, use, remove) while running.
 * Every step is checked; the first failed
 * check prints where and why and exits with status 1. Exit status 0 means
 * every check passed.
 *
 * Build (from the repository root):
 *   cargo build --release -p hearsay-ffi
 *   cc -std=c11 ffi/examples/demo.c -Iffi/include \
 *      target/release/libhearsay_ffi.a -lpthread -ldl -lm -o demo
 *   ./demo
 *
 * ffi/tests/c_demo.rs builds and runs it as part of `cargo test`.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearsay.h"

/* Generous bounds: on loopback with 100 ms gossip each step takes well
 * under a second; the bounds only keep a broken build from hanging. */
#define CONVERGE_MS 10000
#define DETECT_MS 15000

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "demo.c:%d: check failed: %s\n", __LINE__, #cond); \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define CHECK_STATUS(call, want)                                             \
    do {                                                                     \
        hearsay_status got_ = (call);                                        \
        if (got_ != (want)) {                                                \
            fprintf(stderr, "demo.c:%d: %s returned %d (%s), expected %s\n", \
                    __LINE__, #call, (int)got_, hearsay_status_str(got_),    \
                    #want);                                                  \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, HEARSAY_OK)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static hearsay_node *start_node(const char *name, const char *seed) {
    hearsay_options opts;
    hearsay_options_init(&opts);
    opts.name = name;
    opts.listen_addr = "127.0.0.1:0"; /* any free port */
    opts.gossip_interval_ms = 100;
    opts.leave_linger_ms = 300;
    const char *seeds[1] = {seed};
    if (seed != NULL) {
        opts.seeds = seeds;
        opts.seed_count = 1;
    }
    hearsay_node *node = NULL;
    CHECK_OK(hearsay_start(&opts, &node));
    CHECK(node != NULL);
    return node;
}

/* Sets a NUL-terminated string value (stored without its NUL). */
static void set_str(hearsay_node *node, const char *key, const char *value) {
    CHECK_OK(hearsay_set(node, key, (const uint8_t *)value, strlen(value)));
}

/* Waits until `node` sees `member`'s `key` hold `want`. */
static void wait_for_value(hearsay_node *node, const char *member,
                           const char *key, const char *want) {
    uint8_t buf[256];
    size_t len = 0;
    double deadline = now_ms() + CONVERGE_MS;
    for (;;) {
        hearsay_status st = hearsay_get(node, member, key, buf, sizeof buf, &len);
        if (st == HEARSAY_OK && len == strlen(want) && memcmp(buf, want, len) == 0) {
            return;
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "demo.c: %s's %s never became \"%s\" (last: %s, %.*s)\n",
                    member, key, want, hearsay_status_str(st), (int)(st == HEARSAY_OK ? len : 0),
                    (const char *)buf);
            exit(1);
        }
        /* Not there yet (NOT_FOUND) or an older value: gossip is on its way. */
        CHECK(st == HEARSAY_OK || st == HEARSAY_NOT_FOUND);
        sleep_ms(20);
    }
}

/* Reads `node`'s events until one of `kind` about `member` arrives
 * (skipping the others) or `timeout_ms` passes; 1 if it arrived. */
static int wait_for_event(hearsay_node *node, hearsay_event_kind kind,
                          const char *member, double timeout_ms) {
    static hearsay_event ev; /* ~2 KiB; static keeps it off the stack */
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        double left = deadline - now_ms();
        if (left < 0) {
            return 0;
        }
        hearsay_status st = hearsay_next_event(node, &ev, (uint32_t)left);
        if (st == HEARSAY_TIMEOUT) {
            return 0;
        }
        CHECK_OK(st);
        if (ev.kind == kind && strcmp(ev.member, member) == 0) {
            return 1;
        }
    }
}

static int all_see(hearsay_node *const *nodes, size_t n, size_t live) {
    for (size_t i = 0; i < n; i++) {
        if (hearsay_live_count(nodes[i]) != live) {
            return 0;
        }
    }
    return 1;
}

/* Starts a node sealing its datagrams with the 32-byte `key`. */
static hearsay_node *start_keyed(const char *name, const char *seed,
                                 const uint8_t key[HEARSAY_CLUSTER_KEY_LEN]) {
    hearsay_options opts;
    hearsay_options_init(&opts);
    opts.name = name;
    opts.listen_addr = "127.0.0.1:0";
    opts.gossip_interval_ms = 100;
    const char *seeds[1] = {seed};
    if (seed != NULL) {
        opts.seeds = seeds;
        opts.seed_count = 1;
    }
    opts.keys = key;
    opts.key_count = 1;
    opts.key_mode = HEARSAY_KEY_MODE_REQUIRED;
    hearsay_node *node = NULL;
    CHECK_OK(hearsay_start(&opts, &node));
    return node;
}

/* The fingerprint of `node`'s primary key (the node has keys). */
static uint32_t primary_key(hearsay_node *node) {
    hearsay_cluster_key keys[HEARSAY_MAX_CLUSTER_KEYS];
    size_t count = HEARSAY_MAX_CLUSTER_KEYS;
    uint32_t mode = 99;
    CHECK_OK(hearsay_cluster_keys(node, keys, &count, &mode));
    CHECK(mode == HEARSAY_KEY_MODE_REQUIRED);
    for (size_t i = 0; i < count; i++) {
        if (keys[i].primary) {
            return keys[i].fingerprint;
        }
    }
    fprintf(stderr, "demo.c: no primary key among %zu\n", count);
    exit(1);
}

static void keyed_demo(void) {
    uint8_t key_a[HEARSAY_CLUSTER_KEY_LEN], key_b[HEARSAY_CLUSTER_KEY_LEN], key_new[HEARSAY_CLUSTER_KEY_LEN];
    memset(key_a, 0xa1, sizeof key_a);
    memset(key_b, 0xb2, sizeof key_b);
    memset(key_new, 0xc3, sizeof key_new);
    char k1_addr[HEARSAY_ADDR_SIZE];

    hearsay_node *k1 = start_keyed("k1", NULL, key_a);
    CHECK_OK(hearsay_local_addr(k1, k1_addr, sizeof k1_addr));
    hearsay_node *k2 = start_keyed("k2", k1_addr, key_a);
    hearsay_node *k3 = start_keyed("k3", k1_addr, key_b);
    uint32_t fp_a = primary_key(k1);
    CHECK(primary_key(k2) == fp_a);
    CHECK(primary_key(k3) != fp_a);
    printf("demo: k1 and k2 use key %08x, k3 uses key %08x\n", fp_a, primary_key(k3));

    hearsay_node *pair[2] = {k1, k2};
    double deadline = now_ms() + CONVERGE_MS;
    while (!all_see(pair, 2, 1)) {
        CHECK(now_ms() < deadline);
        sleep_ms(20);
    }
    /* k3 has been sending its Syns to k1 all along; over 20 more gossip
     * intervals nobody lets it in. */
    for (int i = 0; i < 40; i++) {
        CHECK(hearsay_live_count(k1) == 1 && hearsay_live_count(k2) == 1);
        CHECK(hearsay_live_count(k3) == 0);
        hearsay_member m;
        CHECK_STATUS(hearsay_member_get(k1, "k3", &m), HEARSAY_NOT_FOUND);
        sleep_ms(50);
    }
    printf("demo: k1 and k2 converged; k3, with another key, stayed out\n");

    /* Rotation without downtime: install everywhere, use everywhere,
     * remove everywhere; the pair stays live and gossip still flows. */
    uint32_t fp_new = 0;
    CHECK_OK(hearsay_install_key(k1, key_new, &fp_new));
    CHECK_OK(hearsay_install_key(k2, key_new, NULL));
    CHECK_STATUS(hearsay_remove_key(k1, fp_a), HEARSAY_PRIMARY_KEY);
    CHECK_STATUS(hearsay_use_key(k1, fp_new ^ 1), HEARSAY_UNKNOWN_KEY);
    CHECK_OK(hearsay_use_key(k1, fp_new));
    CHECK_OK(hearsay_use_key(k2, fp_new));
    CHECK_OK(hearsay_remove_key(k1, fp_a));
    CHECK_OK(hearsay_remove_key(k2, fp_a));
    CHECK(primary_key(k1) == fp_new && primary_key(k2) == fp_new);
    set_str(k1, "after-rotation", "yes");
    wait_for_value(k2, "k1", "after-rotation", "yes");
    CHECK(hearsay_live_count(k1) == 1 && hearsay_live_count(k2) == 1);
    printf("demo: k1 and k2 rotated to key %08x and still gossip\n", fp_new);

    hearsay_free(k3);
    hearsay_free(k2);
    hearsay_free(k1);
}

int main(void) {
    char a_addr[HEARSAY_ADDR_SIZE], b_addr[HEARSAY_ADDR_SIZE],
        c_addr[HEARSAY_ADDR_SIZE];
    double t0 = now_ms();

    /* Arguments are checked, and every status has a name. */
    CHECK(strcmp(hearsay_status_str(HEARSAY_OK), "ok") == 0);
    CHECK(strcmp(hearsay_status_str((hearsay_status)99), "unknown status") == 0);
    {
        hearsay_options bad;
        hearsay_node *none = NULL;
        hearsay_options_init(&bad); /* no name */
        CHECK_STATUS(hearsay_start(&bad, &none), HEARSAY_INVALID_ARGUMENT);
        CHECK(none == NULL);
        bad.name = "bad";
        bad.listen_addr = "not an address";
        CHECK_STATUS(hearsay_start(&bad, &none), HEARSAY_INVALID_ARGUMENT);
    }

    /* Capacity is chosen at start: beyond its range is refused; a small
     * one is allocated once and fills. */
    {
        hearsay_options opts;
        hearsay_node *node = NULL;
        hearsay_options_init(&opts);
        opts.name = "sized";
        opts.max_nodes = 70000; /* at most 65535 */
        CHECK_STATUS(hearsay_start(&opts, &node), HEARSAY_INVALID_ARGUMENT);
        CHECK(node == NULL);
        opts.max_nodes = 16;
        opts.max_entries = 16; /* 15 keys + room for the leave entry */
        opts.max_state_bytes = 4096;
        opts.detector_window = 64;
        CHECK_OK(hearsay_start(&opts, &node));
        hearsay_status st = HEARSAY_OK;
        int written = 0;
        for (; written < 20 && st == HEARSAY_OK; written++) {
            char key[8];
            snprintf(key, sizeof key, "k%d", written);
            st = hearsay_set(node, key, (const uint8_t *)"v", 1);
        }
        CHECK(st == HEARSAY_CAPACITY_FULL);
        printf("demo: a 16-entry node took %d keys, then: %s\n", written - 1,
               hearsay_status_str(st));
        hearsay_free(node);
    }

    /* Three nodes: a first, then b and c with a as their seed. */
    hearsay_node *a = start_node("a", NULL);
    CHECK_OK(hearsay_local_addr(a, a_addr, sizeof a_addr));
    hearsay_node *b = start_node("b", a_addr);
    hearsay_node *c = start_node("c", a_addr);
    CHECK_OK(hearsay_local_addr(b, b_addr, sizeof b_addr));
    CHECK_OK(hearsay_local_addr(c, c_addr, sizeof c_addr));
    printf("demo: a on %s, b on %s, c on %s\n", a_addr, b_addr, c_addr);

    /* The same port twice is a bind failure. */
    {
        hearsay_options dup;
        hearsay_node *none = NULL;
        hearsay_options_init(&dup);
        dup.name = "dup";
        dup.listen_addr = a_addr;
        CHECK_STATUS(hearsay_start(&dup, &none), HEARSAY_BIND_FAILED);
    }

    /* Keys, written before the cluster has formed: gossip delivers them. */
    set_str(a, "http", "10.0.0.1:8080");
    set_str(b, "role", "cache");
    set_str(c, "zone", "eu-west-1");
    CHECK_STATUS(hearsay_set(a, "", (const uint8_t *)"x", 1),
                 HEARSAY_INVALID_ARGUMENT);
    CHECK_STATUS(hearsay_set(a, "\xff", (const uint8_t *)"x", 1),
                 HEARSAY_INVALID_ARGUMENT);
    CHECK_STATUS(hearsay_set(a, NULL, (const uint8_t *)"x", 1),
                 HEARSAY_INVALID_ARGUMENT);

    /* Membership: everyone sees the two others live. */
    hearsay_node *all[3] = {a, b, c};
    double deadline = now_ms() + CONVERGE_MS;
    while (!all_see(all, 3, 2) && now_ms() < deadline) {
        sleep_ms(20);
    }
    CHECK(all_see(all, 3, 2));
    printf("demo: all three live to each other after %.0f ms\n", now_ms() - t0);

    /* Keys across nodes. */
    wait_for_value(b, "a", "http", "10.0.0.1:8080");
    wait_for_value(c, "a", "http", "10.0.0.1:8080");
    wait_for_value(a, "b", "role", "cache");
    wait_for_value(a, "c", "zone", "eu-west-1");
    wait_for_value(b, "c", "zone", "eu-west-1");
    {
        uint8_t small[4];
        size_t len = 0;
        CHECK_STATUS(hearsay_get(b, "a", "http", small, sizeof small, &len),
                     HEARSAY_BUFFER_TOO_SMALL);
        CHECK(len == strlen("10.0.0.1:8080"));
        CHECK_STATUS(hearsay_get(b, "a", "nope", small, sizeof small, &len),
                     HEARSAY_NOT_FOUND);
        CHECK_STATUS(hearsay_get(b, "nobody", "http", small, sizeof small, &len),
                     HEARSAY_NOT_FOUND);
    }
    /* A change and a deletion travel too. */
    set_str(a, "http", "10.0.0.1:9090");
    wait_for_value(c, "a", "http", "10.0.0.1:9090");
    CHECK_OK(hearsay_delete(b, "role"));
    CHECK_STATUS(hearsay_delete(b, "role"), HEARSAY_NOT_FOUND);
    {
        uint8_t buf[16];
        size_t len = 0;
        deadline = now_ms() + CONVERGE_MS;
        while (hearsay_get(a, "b", "role", buf, sizeof buf, &len) == HEARSAY_OK &&
               now_ms() < deadline) {
            sleep_ms(20);
        }
        CHECK_STATUS(hearsay_get(a, "b", "role", buf, sizeof buf, &len),
                     HEARSAY_NOT_FOUND);
    }

    /* a's live members, with their addresses. */
    {
        hearsay_member members[8];
        size_t count = 1;
        CHECK_STATUS(hearsay_live_members(a, members, &count),
                     HEARSAY_BUFFER_TOO_SMALL);
        CHECK(count == 2);
        count = sizeof members / sizeof members[0];
        CHECK_OK(hearsay_live_members(a, members, &count));
        CHECK(count == 2);
        int seen_b = 0, seen_c = 0;
        for (size_t i = 0; i < count; i++) {
            CHECK(members[i].status == HEARSAY_MEMBER_ALIVE);
            CHECK(members[i].generation > 0);
            if (strcmp(members[i].name, "b") == 0) {
                CHECK(strcmp(members[i].addr, b_addr) == 0);
                seen_b = 1;
            } else if (strcmp(members[i].name, "c") == 0) {
                CHECK(strcmp(members[i].addr, c_addr) == 0);
                seen_c = 1;
            }
        }
        CHECK(seen_b && seen_c);
    }

    /* Events, recorded since each node started. wait_for_event skips
     * (consumes) the events before the one it looks for, so each check
     * reads a different node's events. */
    CHECK(wait_for_event(a, HEARSAY_EVENT_MEMBER_JOINED, "b", CONVERGE_MS));
    CHECK(wait_for_event(b, HEARSAY_EVENT_MEMBER_JOINED, "c", CONVERGE_MS));
    CHECK(wait_for_event(c, HEARSAY_EVENT_KEY_SET, "b", CONVERGE_MS));

    /* c stops without leaving: a and b find it dead. */
    double stopped = now_ms();
    hearsay_free(c);
    c = NULL;
    CHECK(wait_for_event(a, HEARSAY_EVENT_MEMBER_DEAD, "c", DETECT_MS));
    printf("demo: a found c dead %.0f ms after it stopped\n", now_ms() - stopped);
    CHECK(wait_for_event(b, HEARSAY_EVENT_MEMBER_DEAD, "c", DETECT_MS));
    {
        hearsay_member m;
        CHECK_OK(hearsay_member_get(a, "c", &m));
        CHECK(m.status == HEARSAY_MEMBER_DEAD);
        CHECK(strcmp(m.addr, c_addr) == 0);
        CHECK(hearsay_live_count(a) == 1);
        CHECK_STATUS(hearsay_member_get(a, "stranger", &m), HEARSAY_NOT_FOUND);
    }

    /* b leaves gracefully: a sees it leave, b can no longer write. */
    CHECK_OK(hearsay_leave(b, 5000));
    CHECK_STATUS(hearsay_set(b, "late", (const uint8_t *)"x", 1), HEARSAY_LEFT);
    CHECK(wait_for_event(a, HEARSAY_EVENT_MEMBER_LEFT, "b", DETECT_MS));
    {
        hearsay_member m;
        CHECK_OK(hearsay_member_get(a, "b", &m));
        CHECK(m.status == HEARSAY_MEMBER_LEFT);
    }

    hearsay_free(b);
    hearsay_free(a);
    hearsay_free(NULL);
    keyed_demo();
    printf("demo: all checks passed in %.0f ms\n", now_ms() - t0);
    return 0;
}
