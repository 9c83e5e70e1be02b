/* Which tables and indexes fill the write-ahead log: reads the committed frames of a copy of a
 * store's WAL (those of its current generation, up to its last commit frame), maps each frame's
 * page to the b-tree that owns it (SQLite's dbstat, on the copy with that WAL applied), and
 * prints how many frames each b-tree wrote, in all and per commit. Every frame is one page
 * written to the log at a commit and, unless a later frame of the same page supersedes it,
 * copied again into the database by a checkpoint: the pages a message makes a commit write are
 * what its durability costs. Run on copies only: opening the copy writes its WAL index (the WAL
 * itself is left as it is, so the count can be taken again).
 * Usage: wal_pages DB_COPY (its WAL is DB_COPY-wal). tests/bench/wal_pages.sh takes the copy
 * from a running broker. Exit 0, 1 if the files cannot be read, 2 for a usage error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define WAL_HEADER_BYTES   32
#define FRAME_HEADER_BYTES 24
#define NAME_MAX_BYTES     64

typedef struct {
    char name[NAME_MAX_BYTES];
    long frames;
} tree_t;

static uint32_t s_be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* Reads the page numbers of the WAL's committed frames into *pages_p; -1 if it is unreadable. */
static long s_read_frames(const char *path, uint32_t **pages_p, long *commits_p)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    unsigned char header[WAL_HEADER_BYTES];
    if (fread(header, 1, sizeof header, f) != sizeof header) {
        fprintf(stderr, "%s: shorter than a WAL header\n", path);
        fclose(f);
        return -1;
    }
    uint32_t magic = s_be32(header), page_size = s_be32(header + 8);
    if ((magic & 0xfffffffe) != 0x377f0682 || page_size < 512 || page_size > 65536 ||
        (page_size & (page_size - 1)) != 0) {
        fprintf(stderr, "%s: not a SQLite WAL\n", path);
        fclose(f);
        return -1;
    }
    unsigned char *frame = malloc(FRAME_HEADER_BYTES + page_size);
    if (!frame) {
        fclose(f);
        return -1;
    }
    uint32_t *pages = NULL;
    long count = 0, committed = 0, cap = 0, commits = 0;
    while (fread(frame, 1, FRAME_HEADER_BYTES + page_size, f) == FRAME_HEADER_BYTES + page_size) {
        /* A frame of an older generation (other salts) ends this one. */
        if (memcmp(frame + 8, header + 16, 8) != 0)
            break;
        if (count == cap) {
            cap = cap ? 2 * cap : 1024;
            uint32_t *more = realloc(pages, (size_t) cap * sizeof *pages);
            if (!more) {
                fprintf(stderr, "%s: out of memory after %ld frames\n", path, count);
                free(pages);
                free(frame);
                fclose(f);
                return -1;
            }
            pages = more;
        }
        pages[count++] = s_be32(frame);
        if (s_be32(frame + 4) != 0) { /* a commit frame: the database size after the commit */
            committed = count;
            commits++;
        }
    }
    free(frame);
    fclose(f);
    *pages_p = pages;
    *commits_p = commits;
    return committed;
}

static int s_by_frames(const void *a, const void *b)
{
    const tree_t *x = a, *y = b;
    return (y->frames > x->frames) - (y->frames < x->frames);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wal_pages DB_COPY\n");
        return 2;
    }
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", argv[1]);
    uint32_t *pages = NULL;
    long commits = 0, frames = s_read_frames(wal, &pages, &commits);
    if (frames < 0)
        return 1;
    if (frames == 0) {
        printf("%s: no committed frame\n", wal);
        free(pages);
        return 0;
    }
    /* The page -> b-tree map, as of the copy with its WAL applied. */
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *) NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT name, pageno FROM dbstat", -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        free(pages);
        return 1;
    }
    uint32_t max_page = 0;
    for (long i = 0; i < frames; i++)
        max_page = pages[i] > max_page ? pages[i] : max_page;
    int *owner = calloc((size_t) max_page + 1, sizeof *owner); /* tree index; 0: unknown */
    tree_t *trees = calloc(1, sizeof *trees);
    if (!owner || !trees) {
        fprintf(stderr, "%s: a frame names page %u: out of memory\n", wal, max_page);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        free(owner);
        free(trees);
        free(pages);
        return 1;
    }
    size_t n_trees = 1;
    snprintf(trees[0].name, sizeof trees[0].name, "(free or not in the copy)");
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text(stmt, 0);
        int64_t page = sqlite3_column_int64(stmt, 1);
        size_t t = 1;
        while (t < n_trees && strcmp(trees[t].name, name) != 0)
            t++;
        if (t == n_trees) {
            tree_t *more = realloc(trees, (n_trees + 1) * sizeof *trees);
            if (!more)
                break;
            trees = more;
            memset(&trees[t], 0, sizeof *trees);
            snprintf(trees[t].name, sizeof trees[t].name, "%s", name);
            n_trees++;
        }
        if (page > 0 && page <= (int64_t) max_page)
            owner[page] = (int) t;
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    for (long i = 0; i < frames; i++)
        trees[owner[pages[i]]].frames++;
    qsort(trees, n_trees, sizeof *trees, s_by_frames);
    printf("%ld frames in %ld commits (%.1f per commit)\n", frames, commits,
           (double) frames / (double) commits);
    for (size_t t = 0; t < n_trees && trees[t].frames > 0; t++)
        printf("%8ld  %5.1f%%  %7.1f per commit  %s\n", trees[t].frames,
               100.0 * (double) trees[t].frames / (double) frames,
               (double) trees[t].frames / (double) commits, trees[t].name);
    free(trees);
    free(owner);
    free(pages);
    return 0;
}
