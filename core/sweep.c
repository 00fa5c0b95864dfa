/* sweep.c - the points of a pretraining sweep and its index.tsv (see sweep.h). */
#include "sweep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"

/* ---- points ---------------------------------------------------------------------- */

static void point_name(lf_pretrain_point *p, const lf_sweep_lists *a)
{
    int len = snprintf(p->name, sizeof p->name, "n%d", p->seq_len);
    if (!p->linformer) {
        snprintf(p->name + len, sizeof p->name - (size_t)len, "_dense");
        return;
    }
    if (p->nonuniform) {
        len += snprintf(p->name + len, sizeof p->name - (size_t)len, "_nu");
        for (int l = 0; l < a->nnu && len < (int)sizeof p->name - 24; l++)
            len += snprintf(p->name + len, sizeof p->name - (size_t)len, "%s%lld", l ? "-" : "",
                            (long long)a->nonuniform[l]);
    } else {
        len += snprintf(p->name + len, sizeof p->name - (size_t)len, "_k%lld", (long long)p->k);
    }
    len += snprintf(p->name + len, sizeof p->name - (size_t)len, "_%s", lf_sharing_name(p->sharing));
    if (p->kind != LF_PROJ_LINEAR)
        snprintf(p->name + len, sizeof p->name - (size_t)len, "_%s", lf_proj_kind_name(p->kind));
}

lf_pretrain_point *lf_sweep_points(const lf_sweep_lists *a, int *count)
{
    lf_proj_kind kind;
    if (lf_proj_kind_parse(a->projection, &kind) != 0) return NULL;
    int per_n = 1 + a->nk * a->nsharing + (a->nnu ? a->nsharing : 0);
    lf_pretrain_point *pts = lf_calloc((size_t)(a->nn * per_n), sizeof *pts);
    if (!pts) return NULL;
    int c = 0;
    for (int j = 0; j < a->nn; j++) {
        lf_pretrain_point base = {.seq_len = (int)a->seq_len[j], .kind = kind};
        pts[c] = base;
        point_name(&pts[c], a);
        c++;
        for (int i = 0; i < a->nk; i++)
            for (int s = 0; s < a->nsharing; s++) {
                pts[c] = base;
                pts[c].linformer = 1;
                pts[c].k = a->k[i];
                lf_sharing_parse(a->sharing[s], &pts[c].sharing);
                point_name(&pts[c], a);
                c++;
            }
        if (a->nnu)
            for (int s = 0; s < a->nsharing; s++) {
                pts[c] = base;
                pts[c].linformer = 1;
                pts[c].nonuniform = 1;
                lf_sharing_parse(a->sharing[s], &pts[c].sharing);
                point_name(&pts[c], a);
                c++;
            }
    }
    *count = c;
    return pts;
}

/* ---- index ----------------------------------------------------------------------- */

void lf_sweep_paths(const char *dir, const char *name, char *log, char *ckpt, size_t len)
{
    snprintf(log, len, "%s/%s.h5", dir, name);
    snprintf(ckpt, len, "%s/%s.ckpt", dir, name);
}

int lf_sweep_index_write(const char *dir, const lf_pretrain_point *pts, int np,
                         const lf_sweep_lists *a, int64_t shard_n, const char *running)
{
    char path[4096], tmp[4200], log[4096], ckpt[4096];
    snprintf(path, sizeof path, "%s/index.tsv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    /* Rows of other points kept from the old index. */
    char **old = NULL;
    int nold = 0;
    FILE *in = fopen(path, "r");
    if (in) {
        char line[1024];
        while (fgets(line, sizeof line, in)) {
            if (line[0] == '#' || !strchr(line, '\t') || strncmp(line, "point\t", 6) == 0) continue;
            char name[128];
            size_t nl = strcspn(line, "\t");
            if (nl >= sizeof name) continue;
            memcpy(name, line, nl);
            name[nl] = 0;
            int mine = 0;
            for (int i = 0; i < np; i++) mine |= strcmp(pts[i].name, name) == 0;
            for (int i = 0; i < nold; i++) mine |= strncmp(old[i], line, nl + 1) == 0;
            if (mine) continue;
            char **o = realloc(old, (size_t)(nold + 1) * sizeof *old);
            if (!o) break;
            old = o;
            old[nold++] = strdup(line);
        }
        fclose(in);
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        for (int i = 0; i < nold; i++) free(old[i]);
        free(old);
        LF_FAIL("%s: cannot create: %s", tmp, strerror(errno));
    }
    fprintf(f, "# bin/pretrain index: one row per point; state from the point's files "
               "(pending, started, interrupted, complete, running, unreadable)\n");
    fprintf(f, "point\tseq_len\tattention\tk\tsharing\tprojection\tshard\tstate\tsteps_done\t"
               "final_val_ppl\tlog\n");
    for (int i = 0; i < np; i++) {
        const lf_pretrain_point *p = &pts[i];
        lf_sweep_paths(dir, p->name, log, ckpt, sizeof log);
        double ppl;
        int64_t steps;
        const char *state;
        if (running && strcmp(running, p->name) == 0) {
            state = "running", ppl = NAN, steps = 0;
        } else {
            state = lf_point_state_name(lf_pretrain_point_state(log, ckpt, &ppl, &steps));
        }
        char kbuf[256];
        if (!p->linformer) {
            snprintf(kbuf, sizeof kbuf, "-");
        } else if (p->nonuniform) {
            int len = 0;
            for (int l = 0; l < a->nnu && len < 200; l++)
                len += snprintf(kbuf + len, sizeof kbuf - (size_t)len, "%s%lld", l ? "," : "",
                                (long long)a->nonuniform[l]);
        } else {
            snprintf(kbuf, sizeof kbuf, "%lld", (long long)p->k);
        }
        fprintf(f, "%s\t%d\t%s\t%s\t%s\t%s\t%lld/%lld\t%s\t%lld\t%.6g\t%s.h5\n", p->name,
                p->seq_len, p->linformer ? "linformer" : "dense", kbuf,
                p->linformer ? lf_sharing_name(p->sharing) : "-",
                p->linformer ? lf_proj_kind_name(p->kind) : "-", (long long)(i % shard_n),
                (long long)shard_n, state, (long long)steps, ppl, p->name);
    }
    for (int i = 0; i < nold; i++) {
        /* Refresh the state columns of kept rows from their files. */
        char *cols[12];
        int nc = 0;
        char *save = NULL;
        for (char *t = strtok_r(old[i], "\t\n", &save); t && nc < 12; t = strtok_r(NULL, "\t\n", &save))
            cols[nc++] = t;
        if (nc == 11) {
            lf_sweep_paths(dir, cols[0], log, ckpt, sizeof log);
            double ppl;
            int64_t steps;
            lf_point_state st = lf_pretrain_point_state(log, ckpt, &ppl, &steps);
            fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%lld\t%.6g\t%s\n", cols[0], cols[1],
                    cols[2], cols[3], cols[4], cols[5], cols[6], lf_point_state_name(st),
                    (long long)steps, ppl, cols[10]);
        }
        free(old[i]);
    }
    free(old);
    int bad = ferror(f);
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        LF_FAIL("%s: cannot write", path);
    }
    return 0;
}

