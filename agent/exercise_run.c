/* fusion-agent exercise run: plays a scenario against the running broker on an accelerated
 * clock. It enrols the simulated participants (keys generated into the state directory, signed
 * with the region's authority through fusion-admin with --region; without, on the authority's
 * machine, from the bundle it writes into STATE/enrol), waits until the broker has loaded them,
 * then sends each inject as its participant (every message carries the exercise id), lets the
 * simulated participants act on what they receive (standing behaviour), observes deliveries,
 * denials, responses and escalations, decides each expectation, and keeps everything as JSON
 * (STATE/progress.json while it runs, so SIGINT/SIGTERM can stop it and --resume continue).
 *
 * What depends on the referral workflow is kept together under "Referral responses and
 * escalations" below: how a response's status and an escalation are recognised. */
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "agent_net.h"
#include "exercise.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/content.h"
#include "fusion/directory.h"
#include "fusion/draft.h"
#include "fusion/vocab.h"

extern char **environ;

#define TICK_MS            20   /* a delivery poll per actor per round, at most */
#define PROGRESS_REDRAW_MS 250  /* real ms between redraws of the progress line on a terminal */
#define SIM_CERT_DAYS      "30" /* simulated participants' certificates */
#define PUBLISH_ATTEMPTS   3
#define MIN_GRACE_REAL     3000   /* real ms the run goes on after the last inject, at least */
#define GRACE_SCENARIO     600000 /* scenario ms after the last inject or deadline */
#define MAX_ACTIONS        1024   /* pending standing-behaviour answers */
#define AUDIT_POLL_MS      250    /* real ms between polls of the exercise's audit trail */
#define AUDIT_TIMEOUT_MS   3000   /* for one poll */
#define AUDIT_ROUNDS       64     /* answers taken in one poll, at most */
#define WINDOW             64     /* DELIVERs of the exercise in flight to a played participant */
#define WINDOW_BROKER      256    /* the widest window a broker opens (broker/handle_subscribe.c) */

/* One participant as the runner sees it. */
typedef struct {
    const fx_participant_t *p;
    fx_keys_t *keys;     /* NULL: a trainee the runner does not play */
    fx_client_t *client; /* connected when keys are */
    size_t left;         /* messages not of the exercise it left unacknowledged */
    int window_full;     /* they fill the widest window: said once */
    int refused;         /* the broker refused its key on the open connection: said once */
    int have_serial;     /* with --region: the serial of its certificate there is known */
    uint64_t serial;     /* that serial: the certificate the broker must hold to admit it */
} actor_t;

typedef struct {
    const exercise_options_t *opt;
    fx_scenario_t *scenario;
    agent_session_t trainer;
    fx_directory_t *directory; /* the broker's, for revocations */
    char broker_id[FX_ID_MAX];
    actor_t *actors;
    size_t n_actors;
    int speed;
    int64_t start_real;  /* real ms at scenario time 0 (shifted on resume) */
    fx_policy_t *policy; /* for the guideline of each denial (optional) */
    json_t *doc;         /* the results: progress and, at the end, the results file */
    char *progress_path, *results_path, *report_dir;
    int tty;
    char last_progress[512];
    int64_t last_drawn;   /* real ms the terminal's line was last drawn */
    int audit_refused;    /* the broker refused the trainer the exercise's audit trail */
    int64_t audit_next;   /* real ms of the next poll of the audit trail */
    int64_t resumed_real; /* real ms when this run started or resumed */
    int64_t resumed_ms;   /* scenario ms then */
} run_t;

/* ---- Small helpers ------------------------------------------------------------------------- */

static int64_t s_now(const run_t *r)
{
    return (fx_now_ms() - r->start_real) * r->speed;
}

static char *s_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *out = fx_malloc(n);
    snprintf(out, n, "%s/%s", dir, name);
    return out;
}

static actor_t *s_actor(run_t *r, const char *id)
{
    for (size_t i = 0; id && i < r->n_actors; i++)
        if (strcmp(r->actors[i].p->id, id) == 0)
            return &r->actors[i];
    return NULL;
}

static json_t *s_injects(run_t *r)
{
    return json_object_get(r->doc, "injects");
}

static json_t *s_inject_json(run_t *r, size_t i)
{
    return json_array_get(s_injects(r), i);
}

/* The index of the inject that sent msg_id (hex), or -1. */
static int s_inject_of(run_t *r, const char *hex)
{
    size_t i;
    json_t *inj;
    json_array_foreach(s_injects(r), i, inj)
    {
        const char *m = json_string_value(json_object_get(inj, "msg_id"));
        if (m && strcmp(m, hex) == 0)
            return (int) i;
    }
    return -1;
}

/* Appends an event at scenario time now. */
static json_t *s_event(run_t *r, const char *type, const char *participant, int inject)
{
    json_t *e = json_object();
    json_object_set_new(e, "t_ms", json_integer(s_now(r)));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "participant", json_string(participant));
    if (inject >= 0)
        json_object_set_new(e, "inject",
                            json_string(fx_scenario_inject(r->scenario, (size_t) inject)->id));
    json_array_append_new(json_object_get(r->doc, "events"), e);
    return e;
}

/* Writes the document to path atomically. 0 or -1 (printed). */
/* Writes the run's document to path through fx_file_write (atomic, and never through a link
 * or over anything but a regular file). 0 or -1. */
static int s_save_to(run_t *r, const char *path)
{
    char *text = json_dumps(r->doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    fx_err_t rc = text ? fx_file_write(path, text, strlen(text), 0644, 0) : FX_ERR_IO;
    free(text);
    if (rc != FX_OK)
        fx_cli_error(AGENT_PROG, "exercise run: cannot write %s: %s", path,
                     fx_file_write_strerror(path, rc));
    return rc == FX_OK ? 0 : -1;
}

static int s_save(run_t *r)
{
    json_object_set_new(r->doc, "elapsed_ms", json_integer(s_now(r)));
    return s_save_to(r, r->progress_path);
}

/* ---- Enrolling the simulated participants -------------------------------------------------- */

/* The path of fusion-admin: $FUSION_ADMIN, else next to this program. */
static char *s_admin_path(void)
{
    const char *env = getenv("FUSION_ADMIN");
    if (env && env[0])
        return fx_strdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return fx_strdup("fusion-admin");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return s_join(self, "fusion-admin");
}

/* waitpid through the signals the runner catches (a SIGINT only sets a flag). */
static pid_t s_waitpid(pid_t pid, int *status)
{
    pid_t rc;
    while ((rc = waitpid(pid, status, 0)) < 0 && errno == EINTR)
        ;
    return rc;
}

/* Runs fusion-admin enroll for a request (no shell), in a process group of its own: a SIGINT
 * from the terminal is the runner's to handle (it stops after the enrolments, saving its
 * progress), and must not kill an enrolment half-way. 0 or -1. */
static int s_enroll(const char *region, const char *request, const char *roles, int replace)
{
    char *admin = s_admin_path();
    char *argv[] = {
        admin,     "enroll",       "--region", (char *) region, (char *) request,
        "--roles", (char *) roles, "--days",   SIM_CERT_DAYS,   replace ? "--replace" : NULL,
        NULL};
    pid_t pid;
    int status = -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(&pid, admin, &actions, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        fx_cli_error(AGENT_PROG, "exercise run: cannot run %s: %s (set FUSION_ADMIN)", admin,
                     strerror(rc));
    } else if (s_waitpid(pid, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fx_cli_error(AGENT_PROG, "exercise run: '%s enroll %s' failed", admin, request);
        status = -1;
    }
    free(admin);
    return rc == 0 && status == 0 ? 0 : -1;
}

/* Whether a simulated participant is to be enrolled, and with what: its roles and simulated, as
 * fusion-admin enroll --roles takes them, into roles. 1 when cert (its certificate in the
 * directory the run checks against; NULL: none) is missing, certifies another key or other
 * roles, else 0. Both ways of enrolling take the roles from here and the validity from
 * SIM_CERT_DAYS: fusion-admin run here (--region), and the bundle's enroll.sh run on the
 * authority's machine (without). */
static int s_enrolment_due(const actor_t *a, const fx_cert_t *cert, char *roles, size_t size)
{
    uint32_t want = a->p->roles | 1u << FX_ROLE_SIMULATED;
    roles[0] = '\0';
    for (int v = 1; v < fx_vocab_size(FX_VOCAB_ROLE); v++)
        if (want & 1u << v) {
            size_t used = strlen(roles);
            snprintf(roles + used, size - used, "%s%s", used ? "," : "",
                     fx_vocab_name(FX_VOCAB_ROLE, v));
        }
    return !cert ||
           sodium_memcmp(fx_cert_sign_key(cert), fx_keys_sign_public(a->keys), FX_KEY_BYTES) != 0 ||
           fx_cert_roles(cert) != want;
}

/* ---- The enrolment bundle (a run without --region) ----------------------------------------- */

#define BUNDLE_DIR    "enrol"
#define BUNDLE_SCRIPT "enroll.sh"

/* Writes s to f between single quotes, for sh (ids are validated, but quoted all the same). */
static void s_sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

/* Removes what an earlier run wrote into the bundle directory dir (its requests and enroll.sh),
 * and dir itself when nothing else is left in it: an old bundle must never enrol what is no
 * longer needed. FX_EXIT_OK; FX_EXIT_USAGE when dir (STATE/enrol, the runner's) or the state
 * directory is there but not a directory, which the user moves away; else FX_EXIT_SYSTEM (all
 * said). */
static int s_bundle_clear(const char *dir, const char *state_dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno == ENOENT)
            return FX_EXIT_OK;
        if (errno == ENOTDIR) {
            fx_cli_error(AGENT_PROG,
                         "exercise run: --state %s is not a directory, or lies under a file: "
                         "the run keeps its keys, progress and results there (name a directory, "
                         "or one to be created)",
                         state_dir);
            return FX_EXIT_USAGE;
        }
        fx_cli_error(AGENT_PROG, "exercise run: %s: %s", dir, strerror(errno));
        return FX_EXIT_SYSTEM;
    }
    if (!S_ISDIR(st.st_mode)) {
        fx_cli_error(AGENT_PROG,
                     "exercise run: %s is %s, not a directory: the run writes its enrolment "
                     "bundle there and removes an older one; move it out of the state directory "
                     "(nothing was changed)",
                     dir,
                     S_ISREG(st.st_mode)    ? "a regular file"
                     : S_ISLNK(st.st_mode)  ? "a symbolic link"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "a device");
        return FX_EXIT_USAGE;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fx_cli_error(AGENT_PROG, "exercise run: %s: %s", dir, strerror(errno));
        return FX_EXIT_SYSTEM;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strcmp(e->d_name, BUNDLE_SCRIPT) != 0 &&
            (n <= 8 || strcmp(e->d_name + n - 8, ".request") != 0))
            continue;
        char *path = s_join(dir, e->d_name);
        if (unlink(path) != 0 && errno != ENOENT) {
            fx_cli_error(AGENT_PROG, "exercise run: cannot remove %s: %s", path, strerror(errno));
            rc = -1;
        }
        free(path);
    }
    closedir(d);
    if (rc == 0)
        (void) rmdir(dir); /* kept when something else is in it */
    return rc == 0 ? FX_EXIT_OK : FX_EXIT_SYSTEM;
}

/* The start of enroll.sh: run on the authority's machine as `sh enroll.sh REGION` (or with
 * $FUSION_REGION), it enrols each request next to it (enrol ID ROLES FINGERPRINT, the request's
 * fingerprint, which fusion-admin enroll --fingerprint checks), with --replace when the region
 * holds a certificate for the id already. It refuses (exit 3) to replace one that is valid and a
 * live principal's, or valid, simulated and for another key than the request's (another run of
 * the exercise holds the id) unless the bundle was written under --take-over (take_over=1, set
 * before this), or one fusion-admin directory does not list (cannot tell whose it is). Revoked,
 * expired and not yet valid certificates are replaced, as the --region path does. A valid
 * simulated certificate for the request's key and roles is kept ("already enrolled with this
 * key"): run again, the script re-issues nothing, which would revoke certificates for nothing. */
static const char s_script_head[] =
    "set -e\n"
    "region=${1:-${FUSION_REGION:-}}\n"
    "if [ -z \"$region\" ] || [ ! -d \"$region/directory\" ]; then\n"
    "    echo \"usage: sh enroll.sh REGION (or set FUSION_REGION), on the authority's machine, as "
    "the region's user\" >&2\n"
    "    exit 2\n"
    "fi\n"
    "here=$(CDPATH='' cd -P -- \"$(dirname -- \"$0\")\" >/dev/null && pwd -P)\n"
    "admin=${FUSION_ADMIN:-fusion-admin}\n"
    "count=0\n"
    "kept=0\n"
    "enrol() { # ID ROLES FINGERPRINT (the request's)\n"
    "    if [ -e \"$region/directory/$1.cert\" ]; then\n"
    "        # Whose certificate it is: its line in the listing (id, roles unless none, "
    "fingerprint,\n"
    "        # valid until, status); exit 1 only says some other file did not verify.\n"
    "        listing=$(\"$admin\" directory --region \"$region\") && listed=0 || listed=$?\n"
    "        line=$(printf '%s\\n' \"$listing\" | awk -v id=\"$1\" '$1 == id { print; exit }')\n"
    "        why=\n"
    "        if [ \"$listed\" -gt 1 ]; then\n"
    "            why=\"'$admin directory' failed, exit $listed\"\n"
    "        elif [ -z \"$line\" ]; then\n"
    "            why=\"'$admin directory' does not list it, exit $listed\"\n"
    "        fi\n"
    "        if [ -n \"$why\" ]; then\n"
    "            echo \"enroll.sh: $region/directory/$1.cert exists but whose it is cannot be "
    "read ($why): not replaced, as it may be a live principal's\" >&2\n"
    "            exit 3\n"
    "        fi\n"
    "        cert_status=$(printf '%s\\n' \"$line\" | awk '{ print $NF }')\n"
    "        cert_key=$(printf '%s\\n' \"$line\" | awk 'NF >= 4 { print $(NF - 2) }')\n"
    "        roles=$(printf '%s\\n' \"$line\" | awk 'NF == 5 { print $2 }')\n"
    "        if [ \"$cert_status\" = valid ]; then\n"
    "            case \",$roles,\" in\n"
    "            *,simulated,*) ;;\n"
    "            *)\n"
    "                echo \"enroll.sh: $1 is a live principal in $region (roles $roles): not "
    "replaced\" >&2\n"
    "                exit 3\n"
    "                ;;\n"
    "            esac\n"
    "            if [ \"$cert_key\" = \"$3\" ] && [ \"$roles\" = \"$2\" ]; then\n"
    "                echo \"enroll.sh: $1 is already enrolled with this key (fingerprint $3, "
    "roles $2): not enrolled again\"\n"
    "                kept=$((kept + 1))\n"
    "                return 0\n"
    "            elif [ \"$cert_key\" != \"$3\" ] && [ \"$take_over\" != 1 ]; then\n"
    "                echo \"enroll.sh: $1 is enrolled in $region for another key (fingerprint "
    "$cert_key, this request's $3): another run of the exercise holds it; not replaced (run the "
    "exercise again with --take-over to take the id over, and carry that bundle)\" >&2\n"
    "                exit 3\n"
    "            elif [ \"$cert_key\" != \"$3\" ]; then\n"
    "                echo \"enroll.sh: --take-over: $1 was enrolled for another key (fingerprint "
    "$cert_key); the run that holds it can no longer connect as $1\"\n"
    "            fi\n"
    "        fi\n"
    "        \"$admin\" enroll --region \"$region\" \"$here/$1.request\" --roles \"$2\" "
    "--days " SIM_CERT_DAYS " --fingerprint \"$3\" --replace\n"
    "    else\n"
    "        \"$admin\" enroll --region \"$region\" \"$here/$1.request\" --roles \"$2\" "
    "--days " SIM_CERT_DAYS " --fingerprint \"$3\"\n"
    "    fi\n"
    "    count=$((count + 1))\n"
    "}\n";

static const char s_script_tail[] =
    "echo \"enroll.sh: $count simulated participant(s) enrolled in $region, $kept already "
    "enrolled with their keys. Copy "
    "$region/directory/*.cert and $region/revocations.crl to the broker's copy of the region "
    "(operator's guide, section 4), then reload the broker (systemctl reload fusion-broker, or "
    "kill -HUP): the exercise runner waits for that.\"\n";

/* Copies the request of each simulated participant whose mark in due is set into bundle and
 * writes bundle/enroll.sh, which enrols them with the roles in roles[i]. 0 or -1 (said). */
static int s_bundle_write(run_t *r, const char *keydir, const char *bundle, const int *due,
                          char (*roles)[256])
{
    if (fx_mkdir_p(bundle) != 0) {
        fx_cli_error(AGENT_PROG, "exercise run: %s: %s", bundle, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        fx_cli_error(AGENT_PROG, "exercise run: %s", strerror(errno));
        return -1;
    }
    fprintf(f,
            "#!/bin/sh\n"
            "# Enrols the simulated participants of exercise %s in the region (written by\n"
            "# fusion-agent exercise run). On the authority's machine, as the region's user:\n"
            "#   sh enroll.sh REGION     (or with $FUSION_REGION; $FUSION_ADMIN for another\n"
            "#                            fusion-admin)\n"
            "# The .request files are enrolment requests: no secret key is in this directory.\n",
            fx_scenario_exercise(r->scenario));
    /* Written under --take-over: enroll.sh may replace a simulated participant's certificate
     * for another key (a bundle written without refuses to). */
    fprintf(f,
            "take_over=%d # 1: written under --take-over, may replace a simulated certificate "
            "for another key\n",
            r->opt->take_over ? 1 : 0);
    fputs(s_script_head, f);
    int rc = 0;
    for (size_t i = 0; i < r->n_actors && rc == 0; i++) {
        if (!due[i])
            continue;
        const char *id = r->actors[i].p->id;
        char name[FX_ID_MAX + 16];
        snprintf(name, sizeof name, "%s.request", id);
        char *from = s_join(keydir, name), *to = s_join(bundle, name);
        uint8_t *req = NULL;
        size_t req_len = 0;
        fx_err_t err = fx_file_read(from, 1 << 20, &req, &req_len);
        if (err != FX_OK)
            fx_cli_error(AGENT_PROG, "exercise run: the request of %s, %s: %s", id, from,
                         err == FX_ERR_NOT_FOUND ? "no such file" : fx_strerror(err));
        else if ((err = fx_file_write(to, req, req_len, 0644, 0)) != FX_OK)
            fx_cli_error(AGENT_PROG, "exercise run: cannot write %s: %s", to,
                         fx_file_write_strerror(to, err));
        rc = err == FX_OK ? 0 : -1;
        free(req);
        free(from);
        free(to);
        char fp[FX_FINGERPRINT_BUFSIZE];
        fx_fingerprint(fx_keys_sign_public(r->actors[i].keys), fp);
        fputs("enrol ", f);
        s_sh_quote(f, id);
        fputc(' ', f);
        s_sh_quote(f, roles[i]);
        fputc(' ', f);
        s_sh_quote(f, fp);
        fputc('\n', f);
    }
    fputs(s_script_tail, f);
    if (fclose(f) != 0 && rc == 0) {
        fx_cli_error(AGENT_PROG, "exercise run: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        char *path = s_join(bundle, BUNDLE_SCRIPT);
        fx_err_t err = fx_file_write(path, text, len, 0644, 0);
        if (err != FX_OK) {
            fx_cli_error(AGENT_PROG, "exercise run: cannot write %s: %s", path,
                         fx_file_write_strerror(path, err));
            rc = -1;
        }
        free(path);
    }
    free(text);
    return rc;
}

/* With --region, after the enrolments: notes the serial of each simulated participant's
 * certificate in the region (*region_p, reloaded: it was read before the enrolments), the one the
 * broker must hold before the run plays it. A re-enrolment keeps the keys, so the broker's older
 * certificate (other roles; revoked in the region, but not at the broker until it reloads)
 * certifies the same key: only the serial tells them apart. A participant whose certificate
 * cannot be read again keeps no serial, and s_admitted checks its key and roles. */
static void s_note_serials(run_t *r, fx_directory_t **region_p)
{
    fx_directory_t *now = NULL;
    if (fx_directory_load(r->opt->region, r->trainer.authority, fx_now_ms(), &now) != FX_OK)
        return;
    fx_directory_destroy(region_p);
    *region_p = now;
    for (size_t i = 0; i < r->n_actors; i++) {
        actor_t *a = &r->actors[i];
        const fx_cert_t *c = NULL;
        fx_cert_status_t st = fx_directory_status(now, a->p->id, &c);
        a->have_serial =
            a->p->simulated && a->keys && c &&
            (st == FX_CERT_STATUS_VALID || st == FX_CERT_STATUS_NOT_YET_VALID) &&
            sodium_memcmp(fx_cert_sign_key(c), fx_keys_sign_public(a->keys), FX_KEY_BYTES) == 0;
        a->serial = a->have_serial ? fx_cert_serial(c) : 0;
    }
}

/* Generates keys for the simulated participants that have none in STATE/keys, and has each
 * whose certificate is missing, certifies another key or other roles enrolled. With --region
 * the certificates checked are the region's, and fusion-admin enrols them there (*enrolled_p
 * counts them). Without, they are the broker's directory, and the runner writes the enrolment
 * bundle STATE/enrol for the authority's machine (*bundled_p counts them; exercise_run removed
 * any older bundle before, so none is left when nobody is to be enrolled).
 * Before anything is generated or enrolled it refuses (exit 2, naming every id):
 * - an id a live principal holds (a valid certificate without the role simulated): its
 *   enrolment would revoke that officer's certificate;
 * - an id whose valid certificate certifies a key this state directory does not hold: another
 *   state directory enrolled it (another run of the exercise, or one stopped and waiting for
 *   --resume), whose keys a new enrolment would revoke; unless --take-over says to.
 * FX_EXIT_OK, or the exit code (5 when the broker does not answer, said). */
static int s_enrol_simulated(run_t *r, size_t *enrolled_p, size_t *bundled_p)
{
    *enrolled_p = *bundled_p = 0;
    char *keydir = s_join(r->opt->state_dir, "keys");
    int status = 0;
    if (fx_mkdir_p(keydir) != 0) {
        fx_cli_error(AGENT_PROG, "exercise run: %s: %s", keydir, strerror(errno));
        free(keydir);
        return FX_EXIT_SYSTEM;
    }
    chmod(keydir, 0700);
    fx_directory_t *region = NULL;
    const fx_directory_t *dir = NULL; /* the certificates checked: the region's or the broker's */
    char where[PATH_MAX + 8] = "at the broker";
    if (r->opt->region) {
        if (fx_directory_load(r->opt->region, r->trainer.authority, fx_now_ms(), &region) !=
            FX_OK) {
            fx_cli_error(AGENT_PROG,
                         "exercise run: --region %s is not a region of the authority the "
                         "trainer's configuration pins",
                         r->opt->region);
            free(keydir);
            return FX_EXIT_USAGE;
        }
        dir = region;
        snprintf(where, sizeof where, "in %s", r->opt->region);
    } else {
        fx_err_t rc = agent_session_directory(&r->trainer);
        if (rc != FX_OK) {
            free(keydir);
            return rc == FX_ERR_UNAVAILABLE ? agent_session_unreachable(&r->trainer)
                                            : fx_err_exit(rc);
        }
        dir = r->trainer.directory;
    }
    /* The keys this state directory holds, and the ids it may not enrol. */
    char held_elsewhere[1024] = "";
    size_t n_elsewhere = 0;
    for (size_t i = 0; i < r->n_actors && status == 0; i++) {
        actor_t *a = &r->actors[i];
        if (!a->p->simulated)
            continue;
        char name[FX_ID_MAX + 16];
        snprintf(name, sizeof name, "%s.key", a->p->id);
        char *key_path = s_join(keydir, name);
        fx_err_t rc = fx_keys_load(key_path, &a->keys);
        if (rc != FX_OK && rc != FX_ERR_NOT_FOUND) {
            fx_cli_error(AGENT_PROG, "exercise run: keys of %s in %s: %s", a->p->id, key_path,
                         fx_strerror(rc));
            status = FX_EXIT_SYSTEM;
        }
        free(key_path);
        const fx_cert_t *cert = fx_directory_find(dir, a->p->id);
        if (status || !cert)
            continue;
        if (!(fx_cert_roles(cert) & 1u << FX_ROLE_SIMULATED)) {
            /* Enrolling it would revoke a live officer's certificate. */
            fx_cli_error(AGENT_PROG,
                         "exercise run: %s is a live principal (its certificate has no role "
                         "simulated); a simulated participant needs an id of its own",
                         a->p->id);
            status = FX_EXIT_USAGE;
        } else if (!a->keys || sodium_memcmp(fx_cert_sign_key(cert), fx_keys_sign_public(a->keys),
                                             FX_KEY_BYTES) != 0) {
            size_t used = strlen(held_elsewhere);
            snprintf(held_elsewhere + used, sizeof held_elsewhere - used, "%s%s", used ? ", " : "",
                     a->p->id);
            n_elsewhere++;
        }
    }
    if (status == 0 && n_elsewhere && !r->opt->take_over) {
        fx_cli_error(AGENT_PROG,
                     "exercise run: %s %s enrolled %s with keys that %s/keys does not hold: "
                     "another run of the exercise (or one stopped, waiting for --resume) uses "
                     "them; run with the --state that holds their keys, or add --take-over to "
                     "enrol new keys for them (the other run's keys then stop working)",
                     held_elsewhere, n_elsewhere > 1 ? "are" : "is", where, r->opt->state_dir);
        status = FX_EXIT_USAGE;
    }
    char *bundle = s_join(r->opt->state_dir, BUNDLE_DIR);
    int *due = fx_calloc(r->n_actors ? r->n_actors : 1, sizeof *due);
    char(*roles)[256] = fx_calloc(r->n_actors ? r->n_actors : 1, sizeof *roles);
    for (size_t i = 0; i < r->n_actors && status == 0; i++) {
        actor_t *a = &r->actors[i];
        if (!a->p->simulated)
            continue;
        char name[FX_ID_MAX + 16];
        snprintf(name, sizeof name, "%s.key", a->p->id);
        char *key_path = s_join(keydir, name);
        snprintf(name, sizeof name, "%s.request", a->p->id);
        char *req_path = s_join(keydir, name);
        fx_err_t rc = FX_OK;
        if (!a->keys) {
            a->keys = fx_keys_new(a->p->id);
            uint8_t *req = NULL;
            size_t len = 0;
            rc = fx_keys_save(a->keys, key_path);
            if (rc == FX_OK && (rc = fx_request_create(a->keys, &req, &len)) == FX_OK)
                rc = fx_file_write(req_path, req, len, 0644, 0);
            free(req);
        }
        if (rc != FX_OK) {
            fx_cli_error(AGENT_PROG, "exercise run: keys of %s in %s: %s", a->p->id, key_path,
                         fx_strerror(rc));
            status = FX_EXIT_SYSTEM;
        } else if (s_enrolment_due(a, fx_directory_find(dir, a->p->id), roles[i],
                                   sizeof roles[i])) {
            if (!r->opt->region) {
                due[i] = 1; /* in the bundle, written below */
                (*bundled_p)++;
            } else {
                char cert_name[FX_ID_MAX + 16];
                snprintf(cert_name, sizeof cert_name, "directory/%s.cert", a->p->id);
                char *cert_path = s_join(r->opt->region, cert_name);
                int exists = access(cert_path, F_OK) == 0;
                free(cert_path);
                if (s_enroll(r->opt->region, req_path, roles[i], exists) != 0)
                    status = FX_EXIT_SYSTEM;
                else
                    (*enrolled_p)++;
            }
        }
        free(key_path);
        free(req_path);
    }
    if (status == 0 && *bundled_p && s_bundle_write(r, keydir, bundle, due, roles) != 0)
        status = FX_EXIT_SYSTEM;
    if (status == 0 && r->opt->region)
        s_note_serials(r, &region);
    free(due);
    free(roles);
    free(bundle);
    if (status == 0 && n_elsewhere)
        fprintf(stderr,
                "%s: exercise run: --take-over: %s %s %s with the keys of %s/keys; a run "
                "with the keys they had can no longer connect as %s\n",
                AGENT_PROG, held_elsewhere, n_elsewhere > 1 ? "are" : "is",
                r->opt->region ? "enrolled" : "to be enrolled", r->opt->state_dir,
                n_elsewhere > 1 ? "them" : "it");
    fx_directory_destroy(&region);
    free(keydir);
    return status;
}

/* What s_wait_admitted found. */
enum { ADMITTED = 0, ADMIT_FAILED = -1, ADMIT_STOPPED = -2, ADMIT_TIMED_OUT = -3 };

/* Whether c, the broker's valid certificate of a played participant (NULL: none; valid means
 * signed, in its window and not on the broker's revocation list), is the one the run plays it
 * with: for its key, and for a simulated participant the certificate this run had enrolled:
 * with --region the region's, by serial; without, where the runner cannot know the serial (the
 * bundle is enrolled on the authority's machine), one with the scenario's roles. A broker that
 * has not reloaded since a re-enrolment with other roles (same keys) still holds the older
 * certificate, its revocation not yet loaded: playing then would have the policy decide on the
 * old roles. (A bundle re-enrols an id only for other keys or other roles, or when the broker
 * holds no valid certificate of it, so key and roles are what tell the new one apart.) */
static int s_admitted(const actor_t *a, const fx_cert_t *c)
{
    if (!c || sodium_memcmp(fx_cert_sign_key(c), fx_keys_sign_public(a->keys), FX_KEY_BYTES) != 0)
        return 0;
    if (!a->p->simulated)
        return 1; /* a trainee played with its own keys and certificate */
    if (fx_cert_roles(c) != (a->p->roles | 1u << FX_ROLE_SIMULATED))
        return 0;
    return !a->have_serial || fx_cert_serial(c) == a->serial;
}

/* Waits until the broker's directory holds the certificate of every played participant's key,
 * for a simulated one the certificate the run enrolled (s_admitted; the broker loads new
 * certificates and revocations when it reloads: SIGHUP). ADMITTED; ADMIT_FAILED on an error
 * (said); ADMIT_STOPPED when interrupted (SIGINT, SIGTERM); ADMIT_TIMED_OUT when --wait passed
 * first (said). */
static int s_wait_admitted(run_t *r)
{
    int64_t deadline = fx_now_ms() + (int64_t) r->opt->timeout_s * 1000;
    int said = 0;
    while (!fx_client_interrupted()) {
        fx_directory_t *dir = NULL;
        fx_answer_t answer;
        fx_err_t rc = fx_client_directory(r->trainer.client, r->trainer.authority, fx_now_ms(),
                                          2000, &dir, &answer);
        if (fx_client_interrupted()) {
            fx_directory_destroy(&dir);
            break;
        }
        if (rc == FX_OK) {
            size_t missing = 0;
            for (size_t i = 0; i < r->n_actors; i++) {
                actor_t *a = &r->actors[i];
                if (a->keys && !s_admitted(a, fx_directory_find(dir, a->p->id)))
                    missing++;
            }
            if (missing == 0) {
                fx_directory_destroy(&r->directory);
                r->directory = dir;
                return ADMITTED;
            }
            fx_directory_destroy(&dir);
            if (!said && r->opt->region)
                fprintf(stderr,
                        "%s: exercise run: %zu participant(s) are enrolled in %s but not yet "
                        "loaded by the broker: if it reads another copy of the region, copy "
                        "their certificates (directory/*.cert) to it; then reload it (systemctl "
                        "reload fusion-broker, or kill -HUP its process); waiting up to %d s\n",
                        AGENT_PROG, missing, r->opt->region, r->opt->timeout_s);
            else if (!said)
                fprintf(stderr,
                        "%s: exercise run: %zu participant(s) are not yet loaded by the broker "
                        "(enrolled with %s/" BUNDLE_DIR "/" BUNDLE_SCRIPT " on the authority's "
                        "machine, their certificates copied to the broker, and the broker "
                        "reloaded); waiting up to %d s\n",
                        AGENT_PROG, missing, r->opt->state_dir, r->opt->timeout_s);
            said = 1;
        } else if (rc != FX_ERR_UNAVAILABLE) {
            fx_cli_error(AGENT_PROG, "exercise run: the broker's directory: %s", fx_strerror(rc));
            return ADMIT_FAILED;
        }
        if (fx_now_ms() > deadline) {
            if (r->opt->region)
                fx_cli_error(AGENT_PROG,
                             "exercise run: the broker did not load the exercise's participants "
                             "within %d s (was it reloaded? does it use the region %s?)",
                             r->opt->timeout_s, r->opt->region);
            else
                fx_cli_error(AGENT_PROG,
                             "exercise run: the broker did not load the exercise's participants "
                             "within %d s (were they enrolled with %s/" BUNDLE_DIR "/" BUNDLE_SCRIPT
                             ", their certificates copied to the broker, and "
                             "the broker reloaded?)",
                             r->opt->timeout_s, r->opt->state_dir);
            return ADMIT_TIMED_OUT;
        }
        zclock_sleep(300);
    }
    return ADMIT_STOPPED;
}

/* Loads the keys of trainees the runner plays (--play-trainees DIR: DIR/ID.key). */
static int s_load_trainees(run_t *r)
{
    for (size_t i = 0; i < r->n_actors; i++) {
        actor_t *a = &r->actors[i];
        if (a->p->simulated || !r->opt->trainee_keys)
            continue;
        char name[FX_ID_MAX + 8];
        snprintf(name, sizeof name, "%s.key", a->p->id);
        char *path = s_join(r->opt->trainee_keys, name);
        fx_err_t rc = fx_keys_load(path, &a->keys);
        if (rc != FX_OK) {
            fx_cli_error(AGENT_PROG, "exercise run: --play-trainees: %s: %s", path,
                         rc == FX_ERR_NOT_FOUND          ? "no such file"
                         : rc == FX_ERR_IO && errno != 0 ? strerror(errno)
                                                         : fx_strerror(rc));
            free(path);
            return -1;
        }
        free(path);
    }
    return 0;
}

/* The delivery window of a played participant: WINDOW for the exercise's messages, plus one for
 * each message that is not the exercise's and that it leaves unacknowledged (the broker counts
 * those in flight until its retry interval, then sends them again): they must not hold back the
 * exercise's own deliveries. At most the widest window a broker opens. */
static void s_set_window(actor_t *a)
{
    size_t window = WINDOW + a->left;
    (void) fx_client_set_window(a->client,
                                (uint32_t) (window < WINDOW_BROKER ? window : WINDOW_BROKER));
}

static int s_connect(run_t *r)
{
    for (size_t i = 0; i < r->n_actors; i++) {
        actor_t *a = &r->actors[i];
        if (!a->keys)
            continue;
        /* A resumed run: what it left before is still waiting for its own agent. */
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(r->doc, "events"), k, e)
        {
            const char *type = json_string_value(json_object_get(e, "type"));
            a->left +=
                json_is_string(json_object_get(e, "ref")) &&
                strcmp(json_string_value(json_object_get(e, "participant")), a->p->id) == 0 &&
                (strcmp(type, "traffic_left") == 0 || strcmp(type, "segregation_breach") == 0);
        }
        if (fx_client_new(r->trainer.config->broker, a->keys, r->trainer.broker_cert, &a->client) !=
            FX_OK) {
            fx_cli_error(AGENT_PROG, "exercise run: cannot connect as %s", a->p->id);
            return -1;
        }
        s_set_window(a);
    }
    return 0;
}

/* ---- The results document ------------------------------------------------------------------ */

static json_t *s_new_doc(run_t *r)
{
    fx_scenario_t *s = r->scenario;
    json_t *doc = json_object();
    char now[FX_TIME_BUFSIZE];
    fx_time_format(fx_now_ms(), now);
    json_object_set_new(doc, "fusion_exercise_results", json_integer(EXERCISE_RESULTS_VERSION));
    json_object_set_new(doc, "exercise", json_string(fx_scenario_exercise(s)));
    json_object_set_new(doc, "title", json_string(fx_scenario_title(s)));
    json_object_set_new(doc, "reference",
                        fx_scenario_reference(s) ? json_string(fx_scenario_reference(s))
                                                 : json_null());
    json_t *objectives = json_array();
    for (size_t i = 0; i < fx_scenario_objective_count(s); i++)
        json_array_append_new(objectives, json_string(fx_scenario_objective(s, i)));
    json_object_set_new(doc, "objectives", objectives);
    json_object_set_new(doc, "scenario", json_string(r->opt->scenario_path));
    json_object_set_new(doc, "speed", json_integer(r->speed));
    json_object_set_new(doc, "started_at", json_string(now));
    json_object_set_new(doc, "finished_at", json_null());
    json_object_set_new(doc, "complete", json_false());
    json_object_set_new(doc, "elapsed_ms", json_integer(0));
    json_t *parts = json_array();
    for (size_t i = 0; i < r->n_actors; i++) {
        const fx_participant_t *p = r->actors[i].p;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(p->id));
        json_object_set_new(o, "name", p->name ? json_string(p->name) : json_null());
        json_object_set_new(o, "simulated", json_boolean(p->simulated));
        json_object_set_new(o, "played", json_boolean(r->actors[i].keys != NULL));
        json_array_append_new(parts, o);
    }
    json_object_set_new(doc, "participants", parts);
    json_t *injects = json_array(), *expects = json_array();
    for (size_t i = 0; i < fx_scenario_inject_count(s); i++) {
        const fx_inject_t *inj = fx_scenario_inject(s, i);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(inj->id));
        json_object_set_new(o, "at_ms", json_integer(inj->at_ms));
        json_object_set_new(o, "from", json_string(inj->from));
        json_object_set_new(o, "action", json_string(fx_inject_kind_name(inj->kind)));
        json_object_set_new(o, "message_kind",
                            inj->message_kind
                                ? json_string(fx_vocab_name(FX_VOCAB_KIND, inj->message_kind))
                                : json_null());
        json_object_set_new(o, "description",
                            inj->description ? json_string(inj->description) : json_null());
        json_object_set_new(o, "status", json_string("pending"));
        json_object_set_new(o, "detail", json_null());
        json_object_set_new(o, "sent_ms", json_null());
        json_object_set_new(o, "msg_id", json_null());
        json_object_set_new(o, "allowed", json_array());
        json_array_append_new(injects, o);
        for (size_t k = 0; k < inj->n_expect; k++) {
            const fx_expectation_t *e = &inj->expect[k];
            json_t *x = json_object();
            json_object_set_new(x, "inject", json_string(inj->id));
            json_object_set_new(x, "kind", json_string(fx_expect_kind_name(e->kind)));
            json_object_set_new(x, "principal", json_string(e->principal));
            json_object_set_new(x, "within_ms",
                                e->within_ms ? json_integer(e->within_ms) : json_null());
            json_object_set_new(x, "code", e->code ? json_string(e->code) : json_null());
            json_object_set_new(x, "rule", e->rule ? json_string(e->rule) : json_null());
            json_object_set_new(x, "designed_to_fail", json_boolean(e->designed_to_fail));
            json_object_set_new(x, "note", e->note ? json_string(e->note) : json_null());
            json_object_set_new(x, "outcome", json_string("pending"));
            json_object_set_new(x, "measured_ms", json_null());
            json_object_set_new(x, "detail", json_null());
            json_object_set_new(x, "source", json_null());
            json_array_append_new(expects, x);
        }
    }
    json_object_set_new(doc, "injects", injects);
    json_object_set_new(doc, "expectations", expects);
    json_object_set_new(doc, "events", json_array());
    json_object_set_new(doc, "actions", json_array());
    return doc;
}

/* Checks that a progress document belongs to this scenario. 0 or -1 (printed). */
static int s_resume_check(run_t *r, json_t *doc)
{
    const char *why = exercise_results_check(doc);
    if (!why && strcmp(json_string_value(json_object_get(doc, "exercise")),
                       fx_scenario_exercise(r->scenario)) != 0)
        why = "it is the progress of another exercise";
    if (!why &&
        json_array_size(json_object_get(doc, "injects")) != fx_scenario_inject_count(r->scenario))
        why = "the scenario's injects changed since it was saved";
    if (!why && json_is_true(json_object_get(doc, "complete")))
        why = "that run is complete (its report is written; start afresh without --resume)";
    if (why) {
        fx_cli_error(AGENT_PROG, "exercise run: --resume: %s: %s", r->progress_path, why);
        return -1;
    }
    return 0;
}

/* ---- Sending -------------------------------------------------------------------------------- */

/* The guideline behind a denial: the rule's (from the policy, when the runner has it), or the
 * principle of the check that failed. */
static const char *s_guideline(const run_t *r, const char *code, const char *rule)
{
    if (rule && rule[0] && r->policy && fx_policy_rule_guideline(r->policy, rule))
        return fx_policy_rule_guideline(r->policy, rule);
    static const char *const principles[][2] = {
        {"exercise_segregation", "Exercise segregation: exercise traffic stays between the "
                                 "exercise's participants, and live traffic never reaches a "
                                 "simulated principal"},
        {"tlp_audience", "Traffic Light Protocol (FIRST TLP 2.0): amber is never broadcast on a "
                         "route, red goes only to named recipients"},
        {"audience_mismatch", "Cross-border taskforces: taskforce traffic goes only between "
                              "members of a taskforce in force; focal-point traffic only to "
                              "focal points"},
        {"no_agreement", "Bilateral or multilateral agreements: protected data crosses a border "
                         "only under an agreement in force that covers it and the purpose"},
        {"no_permit", "Sharing guidelines: what no rule of the policy permits is not shared"},
    };
    for (size_t i = 0; i < sizeof principles / sizeof *principles; i++)
        if (strcmp(code, principles[i][0]) == 0)
            return principles[i][1];
    return NULL;
}

static void s_set_status(json_t *inj, const char *status, const char *detail)
{
    json_object_set_new(inj, "status", json_string(status));
    json_object_set_new(inj, "detail", detail ? json_string(detail) : json_null());
}

/* Prepares, seals and publishes draft as actor a; records allowed recipients, denials and the
 * outcome on inject index (or, for a standing-behaviour answer, inject -1 with its event).
 * Returns the msg_id hex in hex_out ("" when nothing was sent). */
static void s_send_draft(run_t *r, actor_t *a, const fx_draft_t *draft, int index, json_t *inj,
                         char hex_out[2 * FX_MSG_ID_BYTES + 1])
{
    hex_out[0] = '\0';
    Fusion__Header h = *fx_draft_header(draft);
    h.exercise = (char *) fx_scenario_exercise(r->scenario);
    fx_prepared_t *prepared = NULL;
    fx_envelope_t *env = NULL;
    fx_answer_t answer;
    char detail[FX_CLIENT_REASON_MAX + 256];
    fx_err_t rc = fx_client_prepare(a->client, &h, fx_draft_recipients(draft),
                                    fx_draft_recipient_count(draft), r->trainer.authority,
                                    fx_directory_revocations(r->directory), fx_now_ms(),
                                    r->trainer.timeout_ms, &prepared, &answer);
    if (rc != FX_OK) {
        snprintf(detail, sizeof detail, "the broker did not prepare it: %s%s%s",
                 answer.refused ? answer.code : fx_strerror(rc), answer.refused ? ": " : "",
                 answer.refused ? answer.reason : "");
        if (inj)
            s_set_status(inj, "error", detail);
        fx_cli_error(AGENT_PROG, "exercise run: %s: %s", a->p->id, detail);
        return;
    }
    json_t *allowed = inj ? json_object_get(inj, "allowed") : NULL;
    for (size_t i = 0; i < fx_prepared_section_count(prepared); i++) {
        for (size_t j = 0; allowed && j < fx_prepared_allowed_count(prepared, i); j++) {
            const char *id = fx_cert_id(fx_prepared_allowed(prepared, i, j));
            size_t k;
            json_t *v;
            int seen = 0;
            json_array_foreach(allowed, k, v) seen |= strcmp(json_string_value(v), id) == 0;
            if (!seen)
                json_array_append_new(allowed, json_string(id));
        }
        for (size_t j = 0; j < fx_prepared_denied_count(prepared, i); j++) {
            const fx_denial_t *d = fx_prepared_denied(prepared, i, j);
            json_t *e = s_event(r, "denial", d->recipient, index);
            json_object_set_new(e, "source", json_string("prepare"));
            json_object_set_new(e, "from", json_string(a->p->id));
            json_object_set_new(e, "section", json_integer(fx_prepared_section_id(prepared, i)));
            json_object_set_new(e, "code", json_string(d->code));
            json_object_set_new(e, "rule", d->rule[0] ? json_string(d->rule) : json_null());
            json_object_set_new(e, "reason", json_string(d->reason));
            const char *g = s_guideline(r, d->code, d->rule);
            json_object_set_new(e, "guideline", g ? json_string(g) : json_null());
        }
    }
    rc = agent_seal_prepared(a->keys, &h, draft, prepared, &env, NULL, NULL);
    if (rc == FX_ERR_NOT_FOUND) {
        if (inj)
            s_set_status(inj, "denied", "the policy allows no recipient for any section");
        goto cleanup;
    }
    if (rc != FX_OK) {
        snprintf(detail, sizeof detail, "cannot seal: %s", fx_strerror(rc));
        if (inj)
            s_set_status(inj, "error", detail);
        goto cleanup;
    }
    agent_msg_id_hex(fx_envelope_msg_id(env), hex_out);
    for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
        rc = fx_client_publish(a->client, env, r->trainer.timeout_ms, &answer);
        if (rc != FX_ERR_UNAVAILABLE)
            break;
    }
    if (rc == FX_OK) {
        if (inj) {
            s_set_status(inj, "sent", NULL);
            json_object_set_new(inj, "msg_id", json_string(hex_out));
            json_object_set_new(inj, "sent_ms", json_integer(s_now(r)));
        }
    } else {
        /* Labelled as what it is: the broker's code when it refused it; else the client's,
         * too_large (larger than the broker takes, nothing sent: both sizes named, as the agent
         * and the broker say it) or unavailable (no answer) ... */
        char why[FX_CLIENT_REASON_MAX];
        if (rc == FX_ERR_TOO_LARGE && agent_too_large(a->client, env, why, sizeof why))
            snprintf(detail, sizeof detail,
                     "%s: %s; nothing was sent: shorten the inject's sections in the scenario, or "
                     "split them over several injects",
                     fx_err_code(rc), why);
        else
            snprintf(detail, sizeof detail, "%s%s%s",
                     answer.refused ? answer.code : fx_strerror(rc), answer.refused ? ": " : "",
                     answer.refused ? answer.reason : "");
        json_t *e = s_event(r, "rejection", a->p->id, index);
        json_object_set_new(e, "code", json_string(answer.refused ? answer.code : fx_err_code(rc)));
        json_object_set_new(e, "reason", json_string(detail));
        if (inj)
            s_set_status(inj, "rejected", detail);
        hex_out[0] = '\0';
    }
cleanup:
    fx_envelope_destroy(&env);
    fx_prepared_destroy(&prepared);
}

/* Parses a draft written by the runner itself (answers); NULL after printing the problem. */
static fx_draft_t *s_answer_draft(const char *yaml)
{
    fx_diag_t *diag = fx_diag_new("answer");
    fx_draft_t *draft = NULL;
    if (fx_draft_parse((const uint8_t *) yaml, strlen(yaml), ".", fx_now_ms(), diag, &draft) !=
        FX_OK)
        fx_diag_print(diag, stderr, AGENT_PROG ": exercise run: ");
    fx_diag_destroy(&diag);
    return draft;
}

/* A JSON string literal (which YAML reads as a string) for text; caller frees. */
static char *s_quoted(const char *text)
{
    json_t *s = json_string(text ? text : "");
    char *out = json_dumps(s, JSON_ENCODE_ANY);
    json_decref(s);
    return out;
}

/* ---- Referral responses and escalations ----------------------------------------------------
 * Assumed shape (DESIGN.md "Client protocol"): a response is a normal PUBLISH of kind
 * referral_response with in_reply_to = the referral's msg_id, whose first section holds a
 * ReferralResponse; an escalation is a `notice` sent by the broker's principal with in_reply_to =
 * the referral's msg_id. */

static const char *const s_status_words[] = {NULL,       "acknowledged", "accepted",
                                             "declined", "need_info",    "closed"};

/* Sends a referral_response (status, reason, outcome) from actor a to the sender of the referral
 * msg_id (hex), for inject index (-1 for standing behaviour). */
static void s_respond(run_t *r, actor_t *a, const char *to, const char *referral_hex,
                      const char *purpose, int status, const char *reason, const char *outcome,
                      int index, json_t *inj)
{
    char *q_reason = s_quoted(reason), *q_outcome = s_quoted(outcome);
    size_t size = strlen(q_reason) + strlen(q_outcome) + 1024;
    char *yaml = fx_malloc(size);
    snprintf(yaml, size,
             "kind: referral_response\naudience: direct\nrecipients: [%s]\nin_reply_to: %s\n"
             "%s%s%s"
             "sections:\n  - id: 1\n    tlp: amber\n    categories: [operational]\n"
             "    content:\n      referral_response: {status: %s%s%s%s%s}\n",
             to, referral_hex, purpose ? "purpose: " : "", purpose ? purpose : "",
             purpose ? "\n" : "", s_status_words[status], reason ? ", reason: " : "",
             reason ? q_reason : "", outcome ? ", outcome: " : "", outcome ? q_outcome : "");
    free(q_reason);
    free(q_outcome);
    fx_draft_t *draft = s_answer_draft(yaml);
    free(yaml);
    if (!draft) {
        if (inj)
            s_set_status(inj, "error", "the answer could not be drafted");
        return;
    }
    char hex[2 * FX_MSG_ID_BYTES + 1];
    s_send_draft(r, a, draft, index, inj, hex);
    fx_draft_destroy(&draft);
    if (hex[0]) {
        json_t *e = s_event(r, "answer", a->p->id, s_inject_of(r, referral_hex));
        json_object_set_new(e, "status", json_string(s_status_words[status]));
        json_object_set_new(e, "msg_id", json_string(hex));
    }
}

/* Schedules the standing behaviour of simulated actor a for a referral it received. */
static void s_schedule(run_t *r, actor_t *a, const Fusion__Header *h, const char *hex)
{
    const fx_behaviour_t *b = &a->p->behaviour;
    json_t *actions = json_object_get(r->doc, "actions");
    int64_t now = s_now(r);
    const char *purpose = h->purpose ? fx_vocab_name(FX_VOCAB_PURPOSE, (int) h->purpose) : NULL;
    struct {
        int64_t after;
        int status;
    } plan[2] = {{b->acknowledge_after_ms, FUSION__RESPONSE_STATUS__RESPONSE_ACKNOWLEDGED},
                 {b->accept_after_ms, FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED}};
    int declined = 0;
    for (int i = 0; i < 2; i++) {
        if (plan[i].after < 0 || declined || json_array_size(actions) >= MAX_ACTIONS)
            continue;
        int status = plan[i].status;
        if (b->decline_without_consent && !h->consent) {
            status = FUSION__RESPONSE_STATUS__RESPONSE_DECLINED;
            declined = 1;
        }
        json_t *o = json_object();
        json_object_set_new(o, "due_ms", json_integer(now + plan[i].after));
        json_object_set_new(o, "actor", json_string(a->p->id));
        json_object_set_new(o, "to", json_string(h->sender));
        json_object_set_new(o, "referral", json_string(hex));
        json_object_set_new(o, "purpose", purpose ? json_string(purpose) : json_null());
        json_object_set_new(o, "status", json_integer(status));
        json_array_append_new(actions, o);
    }
}

/* Runs the standing-behaviour answers that are due. */
static void s_run_actions(run_t *r)
{
    json_t *actions = json_object_get(r->doc, "actions");
    for (size_t i = 0; i < json_array_size(actions);) {
        json_t *o = json_array_get(actions, i);
        if (json_integer_value(json_object_get(o, "due_ms")) > s_now(r)) {
            i++;
            continue;
        }
        actor_t *a = s_actor(r, json_string_value(json_object_get(o, "actor")));
        const char *to = json_string_value(json_object_get(o, "to"));
        int status = (int) json_integer_value(json_object_get(o, "status"));
        if (a && a->client && to && fx_principal_id_valid(to))
            s_respond(r, a, to, json_string_value(json_object_get(o, "referral")),
                      json_string_value(json_object_get(o, "purpose")), status,
                      status == FUSION__RESPONSE_STATUS__RESPONSE_DECLINED
                          ? "No consent is recorded; refer again once the victim has consented."
                          : NULL,
                      NULL, -1, NULL);
        json_array_remove(actions, i);
        s_save(r);
    }
}

/* Reads the status of a delivered referral_response (its first section that opens). 0 if none. */
static int s_response_status(const actor_t *a, const fx_envelope_t *env)
{
    int status = 0;
    for (size_t i = 0; i < fx_envelope_section_count(env) && !status; i++) {
        uint8_t *plain = NULL;
        size_t len = 0;
        Fusion__SectionContent *content = NULL;
        if (fx_envelope_open(env, a->keys, fx_envelope_section_id(env, i), &plain, &len) == FX_OK &&
            fx_content_decode(plain, len, &content) == FX_OK &&
            content->body_case == FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE)
            status = (int) content->referral_response->status;
        fx_content_free(&content);
        fx_plaintext_free(&plain, len);
    }
    return status >= 1 && status <= 5 ? status : 0;
}

/* Records what a referral_response or an escalation notice tells about a referral. */
static void s_observe_referral_workflow(run_t *r, actor_t *a, const fx_envelope_t *env,
                                        const Fusion__Header *h)
{
    if (h->in_reply_to.len != FX_MSG_ID_BYTES)
        return;
    char referral[2 * FX_MSG_ID_BYTES + 1];
    agent_msg_id_hex(h->in_reply_to.data, referral);
    int index = s_inject_of(r, referral);
    if (h->kind == FUSION__KIND__KIND_REFERRAL_RESPONSE) {
        int status = s_response_status(a, env);
        json_t *e = s_event(r, "response", h->sender, index);
        json_object_set_new(e, "to", json_string(a->p->id));
        json_object_set_new(e, "status",
                            status ? json_string(s_status_words[status]) : json_null());
    } else if (h->kind == FUSION__KIND__KIND_NOTICE && strcmp(h->sender, r->broker_id) == 0) {
        json_t *e = s_event(r, "escalation", a->p->id, index);
        json_object_set_new(e, "from", json_string(h->sender));
    }
}

/* ---- Observing deliveries ------------------------------------------------------------------ */

/* The inject a message belongs to: the one that sent it, else (a trainee's own send, which the
 * runner did not make) the latest inject of that sender and kind without a msg_id, which then
 * takes the msg_id; sent_ms is when it was sent (from the audit trail), or -1 when unknown (the
 * inject's time is taken). */
static int s_match_inject(run_t *r, const char *hex, const char *sender, int kind, int64_t sent_ms)
{
    int index = s_inject_of(r, hex);
    if (index >= 0)
        return index;
    for (int i = (int) fx_scenario_inject_count(r->scenario) - 1; i >= 0; i--) {
        const fx_inject_t *inj = fx_scenario_inject(r->scenario, (size_t) i);
        json_t *o = s_inject_json(r, (size_t) i);
        if (strcmp(inj->from, sender) == 0 && inj->message_kind == kind &&
            strcmp(json_string_value(json_object_get(o, "status")), "trainee_action") == 0 &&
            json_is_null(json_object_get(o, "msg_id"))) {
            json_object_set_new(o, "msg_id", json_string(hex));
            json_object_set_new(o, "sent_ms",
                                sent_ms >= 0 ? json_integer(sent_ms)
                                : json_object_get(o, "done_ms")
                                    ? json_copy(json_object_get(o, "done_ms"))
                                    : json_integer(inj->at_ms));
            return i;
        }
    }
    return -1;
}

static int s_seen(run_t *r, const char *participant, const char *hex)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r->doc, "events"), i, e)
    {
        const char *m = json_string_value(json_object_get(e, "msg_id"));
        if (m && strcmp(m, hex) == 0 &&
            strcmp(json_string_value(json_object_get(e, "type")), "delivery") == 0 &&
            strcmp(json_string_value(json_object_get(e, "participant")), participant) == 0)
            return 1;
    }
    return 0;
}

/* A message that is not of this exercise reached actor a. It is left unacknowledged: the broker
 * keeps it for the agent it is for (a trainee played with --play-trainees is a real officer whose
 * own agent takes its live traffic afterwards; a simulated participant may take part in another
 * exercise run elsewhere). Recorded once, without its msg_id or sender (live traffic is none of
 * the exercise's business; `ref` is a digest that recognises it when it comes again): as
 * "traffic_left", or as a "segregation_breach" when live traffic reached a simulated principal,
 * which the policy's exercise segregation forbids (that one keeps its msg_id and sender, for the
 * operators). Widens the actor's window past what it holds. 1 when it was recorded now. */
static int s_not_ours(run_t *r, actor_t *a, const uint8_t *msg_id, const char *hex,
                      const Fusion__Header *h, const char *exercise)
{
    uint8_t digest[8];
    char ref[2 * sizeof digest + 1];
    crypto_generichash(digest, sizeof digest, msg_id, FX_MSG_ID_BYTES, NULL, 0);
    fx_hex(digest, sizeof digest, ref);
    int breach = a->p->simulated && !exercise[0];
    const char *type = breach ? "segregation_breach" : "traffic_left";
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r->doc, "events"), i, e)
    {
        const char *seen = json_string_value(json_object_get(e, "ref"));
        if (seen && strcmp(seen, ref) == 0 &&
            strcmp(json_string_value(json_object_get(e, "participant")), a->p->id) == 0)
            return 0; /* sent again by the broker: it is still waiting */
    }
    e = s_event(r, type, a->p->id, -1);
    json_object_set_new(e, "ref", json_string(ref));
    if (breach) {
        json_object_set_new(e, "msg_id", json_string(hex));
        json_object_set_new(e, "from", json_string(h->sender));
        fprintf(stderr,
                "%s%s: exercise run: live message %s from %s reached the simulated participant "
                "%s: a segregation breach (not acknowledged)\n",
                r->tty ? "\n" : "", AGENT_PROG, hex, h->sender, a->p->id);
    } else {
        if (exercise[0])
            json_object_set_new(e, "exercise", json_string(exercise));
        if (exercise[0])
            fprintf(stderr,
                    "%s%s: exercise run: traffic of exercise %s for %s left for its own run "
                    "(not acknowledged)\n",
                    r->tty ? "\n" : "", AGENT_PROG, exercise, a->p->id);
        else
            fprintf(stderr,
                    "%s%s: exercise run: live traffic for %s left for the officer's own agent "
                    "(not acknowledged: the broker keeps it for them)\n",
                    r->tty ? "\n" : "", AGENT_PROG, a->p->id);
    }
    a->left++;
    s_set_window(a);
    if (WINDOW + a->left > WINDOW_BROKER && !a->window_full) {
        a->window_full = 1;
        fprintf(stderr,
                "%s: exercise run: %zu messages that are not the exercise's wait for %s and "
                "fill most of its delivery window: the exercise's deliveries to it may wait "
                "behind them\n",
                AGENT_PROG, a->left, a->p->id);
    }
    return 1;
}

/* Takes what has arrived for actor a. Returns how many deliveries it recorded. */
static int s_receive(run_t *r, actor_t *a, int timeout_ms)
{
    int got = 0;
    for (;;) {
        fx_delivery_t *d = NULL;
        fx_err_t rc = fx_client_receive(a->client, timeout_ms, &d);
        if (rc == FX_ERR_UNAVAILABLE)
            break;
        timeout_ms = 0;
        if (rc != FX_OK && fx_client_key_refused(a->client)) {
            /* Revoked (or expired) during the run: nothing more reaches it on this connection
             * (said once; what it sends is refused as any request is). */
            if (!a->refused)
                fx_cli_error(AGENT_PROG, "exercise run: %s: %s", a->p->id,
                             fx_client_status(a->client));
            a->refused = 1;
            break;
        }
        if (rc != FX_OK)
            continue; /* undecodable: dropped by the client; it may be sent again */
        char hex[2 * FX_MSG_ID_BYTES + 1];
        agent_msg_id_hex(fx_delivery_msg_id(d), hex);
        if (fx_delivery_verify(d, r->trainer.authority, fx_now_ms()) != FX_OK) {
            fx_cli_error(AGENT_PROG, "exercise run: %s received msg_id %s that does not verify",
                         a->p->id, hex);
            fx_delivery_destroy(&d);
            continue;
        }
        fx_envelope_t *env = fx_delivery_envelope(d);
        const Fusion__Header *h = fx_envelope_header(env);
        const char *exercise = h->exercise ? h->exercise : "";
        if (strcmp(exercise, fx_scenario_exercise(r->scenario)) != 0) {
            /* Not this exercise's: never acknowledged, so that the broker keeps it for the
             * agent it is for (the officer's own, or another exercise's run). */
            got += s_not_ours(r, a, fx_delivery_msg_id(d), hex, h, exercise);
            fx_delivery_destroy(&d);
            continue;
        }
        if (!s_seen(r, a->p->id, hex)) {
            int index = s_match_inject(r, hex, h->sender, (int) h->kind, -1);
            json_t *e = s_event(r, "delivery", a->p->id, index);
            json_object_set_new(e, "msg_id", json_string(hex));
            json_object_set_new(e, "from", json_string(h->sender));
            const char *kind = fx_vocab_name(FX_VOCAB_KIND, (int) h->kind);
            json_object_set_new(e, "kind", json_string(kind ? kind : "unknown"));
            json_object_set_new(e, "latency_ms",
                                json_integer(fx_now_ms() - (int64_t) h->created_at));
            s_observe_referral_workflow(r, a, env, h);
            if (h->kind == FUSION__KIND__KIND_REFERRAL && a->p->simulated)
                s_schedule(r, a, h, hex);
            got++;
        }
        (void) fx_client_acknowledge(a->client, fx_delivery_msg_id(d));
        fx_delivery_destroy(&d);
    }
    return got;
}

/* ---- Observing through the audit trail -----------------------------------------------------
 * The trainer (the configuration's principal: a trainer whom the policy lists in the exercise)
 * polls the broker for the exercise's audit entries (EXERCISE_AUDIT_REQUEST) and learns what the
 * participants the runner does not play could not tell it: a trainee's own message (its
 * `accepted` entry, with the recipients the policy allowed and denied), a delivery a trainee
 * committed (`received`), a trainee's answer to a referral (`referral_state`), an escalation's
 * notified principals (`escalated`) and a trainee's subscriptions. Entries never hold content.
 * What a played participant sees itself is not taken twice. Events from here carry
 * "source": "audit" and the time of the entry. */

static int s_played(run_t *r, const char *id);
static json_t *s_find_event(run_t *r, const char *type, const char *participant, const char *inject,
                            const char *status);

static json_t *s_audit_state(run_t *r)
{
    json_t *a = json_object_get(r->doc, "audit");
    if (!json_is_object(a)) {
        a = json_pack("{s:I, s:s}", "after_seq", (json_int_t) 0, "state", "unknown");
        json_object_set_new(r->doc, "audit", a);
    }
    return a;
}

/* Scenario time of an entry written at real time time_ms: what happened while the run was
 * stopped counts as seen on resumption; never later than now. */
static int64_t s_audit_t(const run_t *r, int64_t time_ms)
{
    if (time_ms < r->resumed_real)
        return r->resumed_ms;
    int64_t t = (time_ms - r->start_real) * r->speed;
    int64_t now = s_now(r);
    return t > now ? now : t < 0 ? 0 : t;
}

static json_t *s_audit_event(run_t *r, const char *type, const char *participant, int inject,
                             int64_t t)
{
    json_t *e = s_event(r, type, participant, inject);
    json_object_set_new(e, "t_ms", json_integer(t));
    json_object_set_new(e, "source", json_string("audit"));
    return e;
}

/* A principal id from an entry's details that can be written into the results. */
static const char *s_audit_id(json_t *v)
{
    const char *id = json_string_value(v);
    return id && fx_principal_id_valid(id) ? id : NULL;
}

static int s_has_event(run_t *r, const char *type, const char *participant, int inject)
{
    const char *id = inject >= 0 ? fx_scenario_inject(r->scenario, (size_t) inject)->id : NULL;
    return id && s_find_event(r, type, participant, id, NULL) != NULL;
}

/* One of the six denial codes. */
static int s_code_known(const char *code)
{
    for (int c = FX_POLICY_EXERCISE_SEGREGATION; code && c <= FX_POLICY_NO_PERMIT; c++)
        if (strcmp(code, fx_policy_code_name((fx_policy_code_t) c)) == 0)
            return 1;
    return 0;
}

/* The recipients an accepted entry (or its continuation) lists as allowed, and its denials, for
 * inject index, sent by sender. */
static void s_audit_lists(run_t *r, int index, const char *sender, json_t *details, int64_t t)
{
    json_t *o = s_inject_json(r, (size_t) index);
    json_t *allowed = json_object_get(details, "allowed");
    json_t *denied = json_object_get(details, "denied");
    if (!json_is_array(allowed) || !json_is_array(denied))
        return; /* a broker whose entry does not list them */
    json_object_set_new(o, "audit_recipients", json_true());
    json_t *list = json_object_get(o, "allowed"), *v, *w;
    size_t i, k;
    json_array_foreach(allowed, i, v)
    {
        const char *id = s_audit_id(json_object_get(v, "recipient"));
        int seen = 0;
        json_array_foreach(list, k, w) seen |= id && strcmp(json_string_value(w), id) == 0;
        if (id && !seen)
            json_array_append_new(list, json_string(id));
    }
    json_array_foreach(denied, i, v)
    {
        const char *id = s_audit_id(json_object_get(v, "recipient"));
        json_array_foreach(json_object_get(v, "sections"), k, w)
        {
            const char *code = json_string_value(json_object_get(w, "code"));
            const char *rule = json_string_value(json_object_get(w, "rule"));
            json_int_t section = json_integer_value(json_object_get(w, "section"));
            if (!id || !s_code_known(code) || section < 1 || section > 255)
                continue;
            json_t *e = s_audit_event(r, "denial", id, index, t);
            json_object_set_new(e, "from", json_string(sender));
            json_object_set_new(e, "section", json_integer(section));
            json_object_set_new(e, "code", json_string(code));
            json_object_set_new(e, "rule", rule && rule[0] ? json_string(rule) : json_null());
            json_object_set_new(e, "reason",
                                json_string("Recorded in the broker's audit trail when the "
                                            "trainee's message was accepted."));
            const char *g = s_guideline(r, code, rule);
            json_object_set_new(e, "guideline", g ? json_string(g) : json_null());
        }
    }
}

/* `accepted`: a message of the exercise was stored. For a sender the runner does not play, it
 * matches the message to the sender's inject and reads the recipients the policy allowed and
 * denied (the entry's `allowed` and `denied` lists). */
static void s_audit_accepted(run_t *r, const Fusion__AuditEntry *entry, const char *hex,
                             json_t *details, int64_t t)
{
    const char *sender = entry->actor;
    int kind = fx_vocab_parse(FX_VOCAB_KIND, json_string_value(json_object_get(details, "kind")));
    if (!fx_principal_id_valid(sender) || s_played(r, sender) || kind <= 0)
        return;
    int index = s_match_inject(r, hex, sender, kind, t);
    if (index < 0)
        return;
    /* How many recipients the lists name in all (they may go on in `recipients` entries). */
    json_t *count = json_object_get(details, "recipients");
    if (json_is_integer(count) && json_integer_value(count) >= 0)
        json_object_set_new(s_inject_json(r, (size_t) index), "audit_recipients_count",
                            json_integer(json_integer_value(count)));
    s_audit_lists(r, index, sender, details, t);
}

/* `recipients`: the lists of a long accepted entry, continued (docs/audit.md). */
static void s_audit_more_recipients(run_t *r, const Fusion__AuditEntry *entry, const char *hex,
                                    json_t *details, int64_t t)
{
    int index = s_inject_of(r, hex);
    if (index >= 0 && fx_principal_id_valid(entry->actor) && !s_played(r, entry->actor))
        s_audit_lists(r, index, entry->actor, details, t);
}

/* `received`: a recipient committed a message. Taken for recipients the runner does not play. */
static void s_audit_received(run_t *r, const Fusion__AuditEntry *entry, const char *hex, int64_t t)
{
    const char *who = entry->actor;
    int index = s_inject_of(r, hex);
    if (index < 0 || !fx_principal_id_valid(who) || s_played(r, who) || s_seen(r, who, hex))
        return;
    const fx_inject_t *inj = fx_scenario_inject(r->scenario, (size_t) index);
    json_t *e = s_audit_event(r, "delivery", who, index, t);
    json_object_set_new(e, "msg_id", json_string(hex));
    json_object_set_new(e, "from", json_string(inj->from));
    const char *kind = fx_vocab_name(FX_VOCAB_KIND, inj->message_kind);
    json_object_set_new(e, "kind", json_string(kind ? kind : "unknown"));
}

/* `referral_state` with a response: someone answered a referral. Taken when neither the
 * responder nor the referral's sender is played (the runner sees those answers itself). */
static void s_audit_answer(run_t *r, const Fusion__AuditEntry *entry, const char *hex,
                           json_t *details, int64_t t)
{
    const char *who = entry->actor, *state = json_string_value(json_object_get(details, "state"));
    int index = s_inject_of(r, hex);
    if (index < 0 || !json_is_string(json_object_get(details, "response")) || !state ||
        !fx_principal_id_valid(who) || s_played(r, who))
        return;
    const fx_inject_t *inj = fx_scenario_inject(r->scenario, (size_t) index);
    if (s_played(r, inj->from))
        return;
    const char *status = NULL;
    for (size_t i = 1; i < sizeof s_status_words / sizeof *s_status_words; i++)
        if (strcmp(state, s_status_words[i]) == 0)
            status = s_status_words[i];
    json_t *e = s_audit_event(r, "response", who, index, t);
    json_object_set_new(e, "to", json_string(inj->from));
    json_object_set_new(e, "status", status ? json_string(status) : json_null());
}

/* `escalated`: the broker escalated a referral and notified principals. Taken for those the
 * runner does not play (the others receive the notice). */
static void s_audit_escalated(run_t *r, const char *hex, json_t *details, int64_t t)
{
    int index = s_inject_of(r, hex);
    if (index < 0)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(details, "notified"), i, v)
    {
        const char *id = s_audit_id(v);
        if (!id || s_played(r, id) || s_has_event(r, "escalation", id, index))
            continue;
        json_t *e = s_audit_event(r, "escalation", id, index, t);
        json_object_set_new(e, "from", json_string(r->broker_id));
    }
}

/* `subscribed` / `unsubscribed` by a trainee: notes the trainee's inject as done. */
static void s_audit_subscription(run_t *r, const Fusion__AuditEntry *entry, int subscribe,
                                 int64_t t)
{
    for (size_t i = 0; i < fx_scenario_inject_count(r->scenario); i++) {
        const fx_inject_t *inj = fx_scenario_inject(r->scenario, i);
        json_t *o = s_inject_json(r, i);
        if ((inj->kind == FX_INJECT_SUBSCRIBE) != subscribe ||
            (inj->kind != FX_INJECT_SUBSCRIBE && inj->kind != FX_INJECT_UNSUBSCRIBE) ||
            strcmp(inj->from, entry->actor) != 0 || strcmp(inj->pattern, entry->subject) != 0 ||
            strcmp(json_string_value(json_object_get(o, "status")), "trainee_action") != 0)
            continue;
        char when[24], detail[96];
        fx_scenario_time_text(t, when);
        snprintf(detail, sizeof detail, "done by the trainee at %s (audit trail)", when);
        json_object_set_new(o, "detail", json_string(detail));
        return;
    }
}

static void s_audit_entry(run_t *r, const Fusion__AuditEntry *entry)
{
    json_t *details = json_loads(entry->details, JSON_REJECT_DUPLICATES, NULL);
    char hex[2 * FX_MSG_ID_BYTES + 1] = "";
    if (entry->msg_id.len == FX_MSG_ID_BYTES)
        agent_msg_id_hex(entry->msg_id.data, hex);
    int64_t t = s_audit_t(r, (int64_t) entry->time_ms);
    if (!json_is_object(details))
        ; /* not what the broker writes: ignored */
    else if (strcmp(entry->event, "subscribed") == 0 || strcmp(entry->event, "unsubscribed") == 0)
        s_audit_subscription(r, entry, entry->event[0] == 's', t);
    else if (!hex[0])
        ;
    else if (strcmp(entry->event, "accepted") == 0)
        s_audit_accepted(r, entry, hex, details, t);
    else if (strcmp(entry->event, "recipients") == 0)
        s_audit_more_recipients(r, entry, hex, details, t);
    else if (strcmp(entry->event, "received") == 0)
        s_audit_received(r, entry, hex, t);
    else if (strcmp(entry->event, "referral_state") == 0)
        s_audit_answer(r, entry, hex, details, t);
    else if (strcmp(entry->event, "escalated") == 0)
        s_audit_escalated(r, hex, details, t);
    json_decref(details);
}

/* Takes the exercise's new audit entries (every AUDIT_POLL_MS, or now with force). With skip,
 * only moves past them: a fresh run starts after what earlier runs of the exercise left. Returns
 * how many entries it read. */
static size_t s_poll_audit(run_t *r, int force, int skip)
{
    json_t *a = s_audit_state(r);
    if (r->audit_refused || (!force && fx_now_ms() < r->audit_next))
        return 0;
    r->audit_next = fx_now_ms() + AUDIT_POLL_MS;
    uint64_t after = (uint64_t) json_integer_value(json_object_get(a, "after_seq"));
    size_t read = 0;
    for (int round = 0; skip || round < AUDIT_ROUNDS; round++) {
        Fusion__Frame *frame = NULL;
        fx_answer_t answer;
        fx_err_t rc = fx_client_exercise_audit(r->trainer.client, fx_scenario_exercise(r->scenario),
                                               after, 0, AUDIT_TIMEOUT_MS, &frame, &answer);
        if (rc == FX_ERR_UNAVAILABLE)
            break; /* again at the next poll */
        if (rc != FX_OK) {
            fprintf(stderr,
                    "%s%s: exercise run: the broker does not give %s the exercise's audit trail "
                    "(%s%s%s): what trainees the runner does not play do is not observed\n",
                    r->tty ? "\n" : "", AGENT_PROG, r->trainer.config->id,
                    answer.refused ? answer.code : fx_strerror(rc), answer.refused ? ": " : "",
                    answer.refused ? answer.reason : "");
            r->audit_refused = 1;
            json_object_set_new(a, "state", json_string("refused"));
            break;
        }
        const Fusion__ExerciseAudit *got = frame->exercise_audit;
        for (size_t i = 0; i < got->n_entries && !skip; i++)
            s_audit_entry(r, got->entries[i]);
        read += got->n_entries;
        after = got->next_seq;
        int more = got->more && got->n_entries > 0; /* a broker that does not move on: stop */
        fx_codec_free(frame);
        json_object_set_new(a, "state", json_string("ok"));
        if (!more)
            break;
    }
    json_object_set_new(a, "after_seq", json_integer((json_int_t) after));
    return read;
}

/* ---- Injects -------------------------------------------------------------------------------- */

static void s_run_inject(run_t *r, size_t index)
{
    const fx_inject_t *inj = fx_scenario_inject(r->scenario, index);
    json_t *o = s_inject_json(r, index);
    actor_t *a = s_actor(r, inj->from);
    json_object_set_new(o, "done_ms", json_integer(s_now(r)));
    s_event(r, "inject", inj->from, (int) index);
    if (!a || !a->client) {
        s_set_status(o, "trainee_action", "played by the trainee");
        char t[24];
        fx_scenario_time_text(inj->at_ms, t);
        fprintf(stderr, "%s%s %s: %s (trainee) is to %s%s%s\n", r->tty ? "\n" : "", t, inj->id,
                inj->from, fx_inject_kind_name(inj->kind), inj->description ? ": " : "",
                inj->description ? inj->description : "");
        return;
    }
    const char *exercise = fx_scenario_exercise(r->scenario);
    fx_answer_t answer;
    char hex[2 * FX_MSG_ID_BYTES + 1];
    if (inj->kind == FX_INJECT_SUBSCRIBE || inj->kind == FX_INJECT_UNSUBSCRIBE) {
        fx_err_t rc = inj->kind == FX_INJECT_SUBSCRIBE
                          ? fx_client_subscribe(a->client, inj->pattern, inj->stages, inj->kinds,
                                                exercise, r->trainer.timeout_ms, &answer)
                          : fx_client_unsubscribe(a->client, inj->pattern, exercise,
                                                  r->trainer.timeout_ms, &answer);
        if (rc == FX_OK)
            s_set_status(o, "done", NULL);
        else
            s_set_status(o, "error", answer.refused ? answer.reason : fx_strerror(rc));
        return;
    }
    if (inj->kind == FX_INJECT_SEND) {
        fx_diag_t *diag = fx_diag_new(r->opt->scenario_path);
        fx_draft_t *draft = NULL;
        if (fx_draft_from_node(inj->draft, fx_scenario_base_dir(r->scenario), fx_now_ms(), diag,
                               &draft) != FX_OK) {
            fx_diag_print(diag, stderr, AGENT_PROG ": ");
            s_set_status(o, "error", "the draft is no longer valid");
        } else {
            s_send_draft(r, a, draft, (int) index, o, hex);
        }
        fx_draft_destroy(&draft);
        fx_diag_destroy(&diag);
        return;
    }
    /* respond / feedback: to the sender of the earlier inject's message. */
    int to = fx_scenario_find_inject(r->scenario, inj->to);
    json_t *answered = to >= 0 ? s_inject_json(r, (size_t) to) : NULL;
    const char *referral = answered ? json_string_value(json_object_get(answered, "msg_id")) : NULL;
    if (!referral) {
        s_set_status(o, "skipped",
                     "the message it answers was not sent or not seen, so it has no msg_id");
        return;
    }
    const fx_inject_t *target = fx_scenario_inject(r->scenario, (size_t) to);
    if (inj->kind == FX_INJECT_RESPOND) {
        s_respond(r, a, target->from, referral, NULL, inj->status, inj->reason, inj->outcome,
                  (int) index, o);
        return;
    }
    char *q = s_quoted(inj->observation);
    size_t size = strlen(q) + 1024;
    char *yaml = fx_malloc(size);
    snprintf(yaml, size,
             "kind: alert_feedback\naudience: direct\nrecipients: [%s]\nin_reply_to: %s\n"
             "sections:\n  - id: 1\n    tlp: amber\n    categories: [operational]\n"
             "    content:\n      alert_feedback: {observation: %s}\n",
             target->from, referral, q);
    free(q);
    fx_draft_t *draft = s_answer_draft(yaml);
    free(yaml);
    if (draft)
        s_send_draft(r, a, draft, (int) index, o, hex);
    else
        s_set_status(o, "error", "the feedback could not be drafted");
    fx_draft_destroy(&draft);
}

/* ---- Expectations --------------------------------------------------------------------------- */

/* The first event of type for participant about inject (and, for responses, a matching status),
 * or NULL. */
static json_t *s_find_event(run_t *r, const char *type, const char *participant, const char *inject,
                            const char *status)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r->doc, "events"), i, e)
    {
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *p = json_string_value(json_object_get(e, "participant"));
        const char *in = json_string_value(json_object_get(e, "inject"));
        const char *st = json_string_value(json_object_get(e, "status"));
        if (strcmp(t, type) == 0 && p && strcmp(p, participant) == 0 && in &&
            strcmp(in, inject) == 0 && (!status || (st && strcmp(st, status) == 0)))
            return e;
    }
    return NULL;
}

static int s_played(run_t *r, const char *id)
{
    actor_t *a = s_actor(r, id);
    return a && a->client;
}

/* Where an observation came from: an event's source ("audit", "prepare"), else a participant
 * the runner plays. */
static const char *s_source(const json_t *event)
{
    const char *source = json_string_value(json_object_get(event, "source"));
    return source ? source : "participant";
}

/* Decides an expectation; source says where what decided it was observed (NULL: nowhere). */
static void s_decide(json_t *x, const char *outcome, json_t *measured, const char *detail,
                     const char *source)
{
    int designed = json_is_true(json_object_get(x, "designed_to_fail"));
    if (strcmp(outcome, "missed") == 0 && designed)
        outcome = "missed_as_designed";
    json_object_set_new(x, "outcome", json_string(outcome));
    json_object_set_new(x, "measured_ms", measured ? measured : json_null());
    json_object_set_new(x, "detail", detail ? json_string(detail) : json_null());
    json_object_set_new(x, "source", source ? json_string(source) : json_null());
}

/* 1 if id is in the inject's list of allowed recipients. */
static int s_allowed(json_t *o, const char *id)
{
    size_t k;
    json_t *v;
    int allowed = 0;
    json_array_foreach(json_object_get(o, "allowed"), k, v) allowed |=
        strcmp(json_string_value(v), id) == 0;
    return allowed;
}

/* Where the runner knows every recipient of inject o's message, so that a principal not among
 * them never receives it (only the sender seals a section's key, and it sealed for exactly
 * those): the PREPARE answer of a message the runner sent ("prepare"), or the `accepted` entry
 * of a trainee's message in the audit trail once its lists (and their continuations) name as
 * many recipients as it counts ("audit"). NULL while it does not know. */
static const char *s_recipients_known(json_t *o, int by_runner, const char *status)
{
    if (by_runner && strcmp(status, "sent") == 0)
        return "prepare";
    json_t *count = json_object_get(o, "audit_recipients_count");
    if (!by_runner && json_is_true(json_object_get(o, "audit_recipients")) &&
        json_is_integer(count) &&
        json_array_size(json_object_get(o, "allowed")) >= (size_t) json_integer_value(count))
        return "audit";
    return NULL;
}

/* 1 when the message of an inject the runner played went nowhere: it was denied, rejected,
 * failed or skipped. */
static int s_not_sent(int by_runner, const char *status)
{
    return by_runner && strcmp(status, "pending") != 0 && strcmp(status, "sent") != 0;
}

/* Decides what can be decided at scenario time now (final: the run is over). Returns how many
 * are still pending. An expectation about a principal who cannot receive the message (it went
 * to a known set of recipients without it, or went nowhere) is decided at once, without waiting
 * for its deadline. */
static size_t s_evaluate(run_t *r, int64_t now, int final)
{
    size_t pending = 0, i;
    json_t *x;
    json_array_foreach(json_object_get(r->doc, "expectations"), i, x)
    {
        const char *outcome = json_string_value(json_object_get(x, "outcome"));
        const char *inject = json_string_value(json_object_get(x, "inject"));
        const char *kind = json_string_value(json_object_get(x, "kind"));
        const char *who = json_string_value(json_object_get(x, "principal"));
        int index = fx_scenario_find_inject(r->scenario, inject);
        json_t *o = s_inject_json(r, (size_t) index);
        const fx_inject_t *inj = fx_scenario_inject(r->scenario, (size_t) index);
        const char *status = json_string_value(json_object_get(o, "status"));
        int done = strcmp(status, "pending") != 0;
        json_t *sent = json_object_get(o, "sent_ms");
        int64_t t0 = json_is_integer(sent) ? json_integer_value(sent) : inj->at_ms;
        int64_t within = json_integer_value(json_object_get(x, "within_ms"));
        int by_runner = s_played(r, inj->from);
        if (strcmp(outcome, "pending") != 0) {
            /* A late response or delivery still gets its measured time. */
            if (strcmp(outcome, "met") != 0 && json_is_null(json_object_get(x, "measured_ms"))) {
                json_t *e = NULL;
                if (strcmp(kind, "delivered") == 0)
                    e = s_find_event(r, "delivery", who, inject, NULL);
                else if (strcmp(kind, "acknowledged") == 0)
                    e = s_find_event(r, "response", who, inject, NULL);
                if (e)
                    json_object_set_new(
                        x, "measured_ms",
                        json_integer(json_integer_value(json_object_get(e, "t_ms")) - t0));
            }
            continue;
        }
        if (!done) {
            pending++;
            continue;
        }
        if (strcmp(kind, "denied") == 0) {
            const char *code = json_string_value(json_object_get(x, "code"));
            const char *rule = json_string_value(json_object_get(x, "rule"));
            size_t k;
            json_t *e, *found = NULL, *other = NULL;
            json_array_foreach(json_object_get(r->doc, "events"), k, e)
            {
                const char *in = json_string_value(json_object_get(e, "inject"));
                const char *p = json_string_value(json_object_get(e, "participant"));
                if (strcmp(json_string_value(json_object_get(e, "type")), "denial") != 0 || !in ||
                    strcmp(in, inject) != 0 || strcmp(p, who) != 0)
                    continue;
                const char *c = json_string_value(json_object_get(e, "code"));
                const char *ru = json_string_value(json_object_get(e, "rule"));
                if (strcmp(c, code) == 0 && (!rule || (ru && strcmp(ru, rule) == 0)))
                    found = e;
                else
                    other = e;
            }
            char detail[512];
            int audited = json_is_true(json_object_get(o, "audit_recipients"));
            /* A trainee's message: its denials come with its entry in the audit trail. */
            if (!found && !by_runner && !audited && !final && !r->audit_refused) {
                pending++;
                continue;
            }
            if (found)
                s_decide(x, "met", json_integer(0), NULL, s_source(found));
            else if (by_runner || (audited && other)) {
                snprintf(detail, sizeof detail, "%s%s%s", other ? "denied with " : "not denied",
                         other ? json_string_value(json_object_get(other, "code")) : "",
                         other && json_is_string(json_object_get(other, "rule")) ? " (rule)" : "");
                s_decide(x, "missed", NULL, detail, other ? s_source(other) : "prepare");
            } else if (audited)
                s_decide(x, "unobserved", NULL,
                         "the audit trail lists no denial for this recipient: it lists those of "
                         "route, taskforce and focal-point audiences, while a direct message's "
                         "are in the trainee's own PREPARE answer only",
                         NULL);
            else
                s_decide(x, "unobserved", NULL,
                         strcmp(status, "trainee_action") != 0
                             ? "the trainee's own PREPARE answer is not visible to the runner"
                         : json_is_null(json_object_get(o, "msg_id"))
                             ? "the trainee's message was not seen (a PREPARE answer alone is "
                               "visible to the trainee only)"
                             : "the broker's audit entry of the trainee's message does not list "
                               "the recipients the policy denied",
                         NULL);
            continue;
        }
        const char *known = s_recipients_known(o, by_runner, status);
        if (strcmp(kind, "not_delivered") == 0) {
            json_t *e = s_find_event(r, "delivery", who, inject, NULL);
            if (e) {
                s_decide(x, "missed",
                         json_integer(json_integer_value(json_object_get(e, "t_ms")) - t0),
                         "it was delivered", s_source(e));
                continue;
            }
            if (s_not_sent(by_runner, status)) {
                s_decide(x, "met", NULL, "the message was not sent", "prepare");
                continue;
            }
            if (known && !s_allowed(o, who)) {
                s_decide(x, "met", NULL,
                         "not among the recipients the policy allowed (the message was sealed "
                         "for those only)",
                         known);
                continue;
            }
            if (!final && !(within && now > t0 + within)) {
                pending++;
                continue;
            }
            /* The sender's PREPARE answer, or the audit trail's entry of a trainee's message,
             * lists every recipient a section may go to. */
            const char *lists = by_runner && strcmp(status, "pending") != 0            ? "prepare"
                                : json_is_true(json_object_get(o, "audit_recipients")) ? "audit"
                                                                                       : NULL;
            if (s_played(r, who))
                s_decide(x, "met", NULL, NULL, "participant");
            else if (lists && s_allowed(o, who))
                s_decide(x, "missed", NULL, "the policy allowed it as a recipient", lists);
            else if (lists)
                s_decide(x, "met", NULL, "not among the recipients the policy allowed", lists);
            else
                s_decide(x, "unobserved", NULL,
                         "neither the sender nor the recipient is played, and the audit trail "
                         "does not list the message's allowed recipients",
                         NULL);
            continue;
        }
        /* Timed: delivered, acknowledged, accepted, declined, escalated. */
        const char *type = strcmp(kind, "delivered") == 0   ? "delivery"
                           : strcmp(kind, "escalated") == 0 ? "escalation"
                                                            : "response";
        const char *want = strcmp(kind, "accepted") == 0   ? "accepted"
                           : strcmp(kind, "declined") == 0 ? "declined"
                                                           : NULL;
        json_t *e = s_find_event(r, type, who, inject, want);
        if (!e && strcmp(type, "response") == 0 && !by_runner) /* to a sender not played */
            e = s_find_event(r, "answer", who, inject, want);
        if (e) {
            int64_t took = json_integer_value(json_object_get(e, "t_ms")) - t0;
            s_decide(x, took <= within ? "met" : "missed", json_integer(took < 0 ? 0 : took),
                     took <= within ? NULL : "later than expected", s_source(e));
            continue;
        }
        /* Nobody receives, answers or escalates a message that went nowhere; a principal the
         * message was not sealed for neither receives nor answers it (an escalation notice is
         * another message, to others). */
        if (s_not_sent(by_runner, status)) {
            s_decide(x, "missed", NULL, "the message was not sent", NULL);
            continue;
        }
        if (known && strcmp(type, "escalation") != 0 && !s_allowed(o, who)) {
            s_decide(x, "missed", NULL,
                     "not among the recipients the policy allowed: the message was not sealed "
                     "for it",
                     known);
            continue;
        }
        if (now <= t0 + within && !final) {
            pending++;
            continue;
        }
        /* Who would have seen it: the recipient (delivery, escalation) or the referral's sender
         * (responses travel to it), or the trainer through the exercise's audit trail. */
        int played =
            strcmp(type, "response") == 0 ? by_runner || s_played(r, who) : s_played(r, who);
        int audit =
            !r->audit_refused &&
            strcmp(json_string_value(json_object_get(s_audit_state(r), "state")), "ok") == 0;
        if (strcmp(status, "sent") != 0 && strcmp(status, "trainee_action") != 0)
            s_decide(x, "missed", NULL, "the message was not sent", NULL);
        else if (audit && !played && json_is_null(json_object_get(o, "msg_id")))
            s_decide(x, "missed", NULL, "the trainee's message is not in the audit trail", "audit");
        else if (played || audit)
            s_decide(x, "missed", NULL, "nothing observed in time",
                     played ? "participant" : "audit");
        else
            s_decide(x, "unobserved", NULL,
                     "no participant the runner plays could observe it, nor the audit trail", NULL);
    }
    return pending;
}

/* ---- Progress ------------------------------------------------------------------------------- */

static int64_t s_end_ms(run_t *r);

/* What the run waits for next, into buf: the next inject, or the expectation of a sent inject
 * due first (one without a deadline waits for the end of the run), or the end of the run. */
static void s_waiting(run_t *r, size_t next, char *buf, size_t size)
{
    int64_t due = INT64_MAX;
    json_t *first = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(r->doc, "expectations"), i, x)
    {
        int64_t within = json_integer_value(json_object_get(x, "within_ms"));
        if (strcmp(json_string_value(json_object_get(x, "outcome")), "pending") != 0 || within <= 0)
            continue;
        int index =
            fx_scenario_find_inject(r->scenario, json_string_value(json_object_get(x, "inject")));
        json_t *o = s_inject_json(r, (size_t) index);
        if (strcmp(json_string_value(json_object_get(o, "status")), "pending") == 0)
            continue; /* not sent yet: the inject comes first */
        json_t *sent = json_object_get(o, "sent_ms");
        int64_t t0 = json_is_integer(sent) ? json_integer_value(sent)
                                           : fx_scenario_inject(r->scenario, (size_t) index)->at_ms;
        if (t0 + within < due) {
            due = t0 + within;
            first = x;
        }
    }
    char t[24];
    size_t count = fx_scenario_inject_count(r->scenario);
    if (next < count && fx_scenario_inject(r->scenario, next)->at_ms <= due) {
        fx_scenario_time_text(fx_scenario_inject(r->scenario, next)->at_ms, t);
        snprintf(buf, size, "waiting for inject %zu, at %s", next + 1, t);
        return;
    }
    if (!first) {
        fx_scenario_time_text(s_end_ms(r), t);
        snprintf(buf, size, "waiting for the end of the run, at %s", t);
        return;
    }
    const char *kind = json_string_value(json_object_get(first, "kind"));
    const char *who = json_string_value(json_object_get(first, "principal"));
    size_t n = (size_t) fx_scenario_find_inject(
                   r->scenario, json_string_value(json_object_get(first, "inject"))) +
               1;
    fx_scenario_time_text(due, t);
    if (strcmp(kind, "delivered") == 0 || strcmp(kind, "escalated") == 0)
        snprintf(buf, size, "waiting for the %s of inject %zu to %s, due %s",
                 kind[0] == 'd' ? "delivery" : "escalation", n, who, t);
    else if (strcmp(kind, "not_delivered") == 0)
        snprintf(buf, size, "waiting to see inject %zu not delivered to %s, until %s", n, who, t);
    else {
        const char *verb = strcmp(kind, "acknowledged") == 0 ? "acknowledge"
                           : strcmp(kind, "accepted") == 0   ? "accept"
                           : strcmp(kind, "declined") == 0   ? "decline"
                                                             : NULL;
        if (verb)
            snprintf(buf, size, "waiting for %s to %s inject %zu, due %s", who, verb, n, t);
        else
            snprintf(buf, size, "waiting for the %s expectation of inject %zu about %s, due %s",
                     kind, n, who, t);
    }
}

/* The width of the terminal on standard error, or 0 when it does not say. */
static size_t s_columns(void)
{
    struct winsize ws;
    return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

static void s_progress(run_t *r, size_t done_injects, int force)
{
    size_t met = 0, missed = 0, designed = 0, total = 0, i;
    json_t *x;
    json_array_foreach(json_object_get(r->doc, "expectations"), i, x)
    {
        const char *o = json_string_value(json_object_get(x, "outcome"));
        total++;
        met += strcmp(o, "met") == 0;
        missed += strcmp(o, "missed") == 0;
        designed += strcmp(o, "missed_as_designed") == 0;
    }
    char waiting[160] = "", line[512];
    if (!force) /* the run is over when forced */
        s_waiting(r, done_injects, waiting, sizeof waiting);
    snprintf(line, sizeof line,
             "inject %zu of %zu  expectations: %zu met, %zu missed, %zu missed as designed, "
             "%zu of %zu decided%s%s",
             done_injects, fx_scenario_inject_count(r->scenario), met, missed, designed,
             met + missed + designed, total, waiting[0] ? "  " : "", waiting);
    int64_t now = s_now(r);
    if (!r->tty) {
        /* In a log, one line per change, the clock in minutes. */
        if (!force && strcmp(line, r->last_progress) == 0)
            return;
        snprintf(r->last_progress, sizeof r->last_progress, "%s", line);
        char t[24];
        fx_scenario_time_text(now / 60000 * 60000, t);
        fprintf(stderr, "%s %s  %s\n", fx_scenario_exercise(r->scenario), t, line);
        return;
    }
    /* On a terminal the line is redrawn as the clock moves, in seconds, a few times a second at
     * most, and fits the terminal's width (a line that wraps cannot be redrawn): the counts are
     * shortened, then left out, before what the run waits for is cut. */
    int64_t real = fx_now_ms();
    if (!force && real - r->last_drawn < PROGRESS_REDRAW_MS)
        return;
    r->last_drawn = real;
    char clock[32], text[640];
    int64_t sec = now / 1000;
    snprintf(clock, sizeof clock, "+%02lld:%02lld:%02lld", (long long) (sec / 3600),
             (long long) (sec / 60 % 60), (long long) (sec % 60));
    const char *exercise = fx_scenario_exercise(r->scenario);
    size_t columns = s_columns(), width = columns > 1 ? columns - 1 : SIZE_MAX;
    size_t n = fx_scenario_inject_count(r->scenario), decided = met + missed + designed;
    for (int form = 0; form < 5; form++) {
        if (form == 0)
            snprintf(text, sizeof text,
                     "%s %s  inject %zu of %zu  expectations: %zu met, %zu missed, %zu missed as "
                     "designed, %zu of %zu decided",
                     exercise, clock, done_injects, n, met, missed, designed, decided, total);
        else if (form == 1)
            snprintf(text, sizeof text,
                     "%s %s  inject %zu of %zu  %zu met, %zu missed, %zu as designed, %zu of %zu "
                     "decided",
                     exercise, clock, done_injects, n, met, missed, designed, decided, total);
        else if (form == 2)
            snprintf(text, sizeof text, "%s %s  inject %zu of %zu  %zu of %zu decided", exercise,
                     clock, done_injects, n, decided, total);
        else if (form == 3) /* the exercise is named in the line before */
            snprintf(text, sizeof text, "%s  inject %zu of %zu  %zu of %zu decided", clock,
                     done_injects, n, decided, total);
        else
            snprintf(text, sizeof text, "%s  %zu of %zu decided", clock, decided, total);
        if (waiting[0])
            snprintf(text + strlen(text), sizeof text - strlen(text), "  %s", waiting);
        if (strlen(text) <= width)
            break;
    }
    if (strlen(text) > width)
        text[width] = '\0';
    fprintf(stderr, "\r%s\033[K", text);
}

/* ---- The run -------------------------------------------------------------------------------- */

/* When the run may end: after the last inject and the deadline of every expectation still
 * undecided (one decided early, as a met escalation, no longer holds the run), plus a grace so
 * that nothing still in flight is missed. */
static int64_t s_end_ms(run_t *r)
{
    int64_t end = 0;
    for (size_t i = 0; i < fx_scenario_inject_count(r->scenario); i++)
        if (fx_scenario_inject(r->scenario, i)->at_ms > end)
            end = fx_scenario_inject(r->scenario, i)->at_ms;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r->doc, "expectations"), i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "outcome")), "pending") != 0)
            continue;
        int index =
            fx_scenario_find_inject(r->scenario, json_string_value(json_object_get(x, "inject")));
        const fx_inject_t *inj = fx_scenario_inject(r->scenario, (size_t) index);
        json_t *sent = json_object_get(s_inject_json(r, (size_t) index), "sent_ms");
        int64_t t0 = json_is_integer(sent) ? json_integer_value(sent) : inj->at_ms;
        int64_t due = (t0 > inj->at_ms ? t0 : inj->at_ms) +
                      json_integer_value(json_object_get(x, "within_ms"));
        if (due > end)
            end = due;
    }
    int64_t grace = (int64_t) MIN_GRACE_REAL * r->speed;
    return end + (grace > GRACE_SCENARIO ? grace : GRACE_SCENARIO);
}

/* The run's clock: --speed, else the policy's speed for the exercise (the clock the broker
 * escalates its referrals on), else the scenario's. A warning when escalations would be measured
 * on another clock than the broker's. */
static void s_choose_speed(run_t *r, const char *policy_path)
{
    const char *exercise = fx_scenario_exercise(r->scenario);
    int listed = r->policy && fx_policy_has_exercise(r->policy, exercise);
    int policy_speed = listed ? fx_policy_exercise_speed(r->policy, exercise) : 0;
    r->speed = r->opt->speed      ? r->opt->speed
               : policy_speed > 1 ? policy_speed
                                  : fx_scenario_speed(r->scenario);
    size_t escalations = 0;
    for (size_t i = 0; i < fx_scenario_inject_count(r->scenario); i++) {
        const fx_inject_t *inj = fx_scenario_inject(r->scenario, i);
        for (size_t k = 0; k < inj->n_expect; k++)
            escalations += inj->expect[k].kind == FX_EXPECT_ESCALATED;
    }
    if (listed && policy_speed != r->speed && (policy_speed > 1 || escalations)) {
        char consequence[96] = "";
        if (escalations)
            snprintf(consequence, sizeof consequence,
                     ": %zu escalated expectation(s) are measured on another clock", escalations);
        fprintf(stderr,
                "%s: exercise run: the policy %s sets %s's clock to speed %d, on which the "
                "broker escalates the exercise's referrals, but this run's clock is %d exercise "
                "seconds per second%s\n",
                AGENT_PROG, policy_path, exercise, policy_speed, r->speed, consequence);
    } else if (!listed && escalations)
        fprintf(stderr,
                "%s: exercise run: without the policy (%s), the speed at which the broker "
                "escalates %s's referrals is not known\n",
                AGENT_PROG, r->opt->region ? "--policy or REGION/policy.yaml" : "--policy",
                exercise);
}

/* Escalation notices are messages of the exercise from the broker's principal: the policy must
 * list it among the exercise's participants for them to reach anyone. */
static void s_check_notices(run_t *r)
{
    const char *exercise = fx_scenario_exercise(r->scenario);
    size_t escalations = 0;
    for (size_t i = 0; i < fx_scenario_inject_count(r->scenario); i++) {
        const fx_inject_t *inj = fx_scenario_inject(r->scenario, i);
        for (size_t k = 0; k < inj->n_expect; k++)
            escalations += inj->expect[k].kind == FX_EXPECT_ESCALATED;
    }
    if (escalations && r->policy && fx_policy_has_exercise(r->policy, exercise) &&
        !fx_policy_exercise_participant(r->policy, exercise, r->broker_id))
        fprintf(stderr,
                "%s: exercise run: the policy does not list the broker's principal %s among "
                "%s's participants: its escalation notices cannot reach anyone, and %zu "
                "escalated expectation(s) will be missed\n",
                AGENT_PROG, r->broker_id, exercise, escalations);
}

static void s_free_run(run_t *r)
{
    for (size_t i = 0; i < r->n_actors; i++) {
        fx_client_destroy(&r->actors[i].client);
        fx_keys_destroy(&r->actors[i].keys);
    }
    free(r->actors);
    fx_directory_destroy(&r->directory);
    fx_policy_destroy(&r->policy);
    agent_session_close(&r->trainer);
    json_decref(r->doc);
    free(r->progress_path);
    free(r->results_path);
    free(r->report_dir);
    fx_scenario_destroy(&r->scenario);
}

int exercise_run(const exercise_options_t *opt)
{
    run_t run;
    memset(&run, 0, sizeof run);
    run_t *r = &run;
    r->opt = opt;
    r->tty = isatty(STDERR_FILENO);
    int status = FX_EXIT_SYSTEM;
    /* An older bundle goes first, before anything can refuse the run (the broker not answering,
     * an id held elsewhere or now a live principal's, a bad scenario ...): carried to the
     * authority's machine, it would enrol what this run did not decide, such as an id another
     * run now holds. Only a run that writes a new bundle leaves one. */
    char *old_bundle = s_join(opt->state_dir, BUNDLE_DIR);
    int cleared = s_bundle_clear(old_bundle, opt->state_dir);
    free(old_bundle);
    if (cleared != FX_EXIT_OK)
        return cleared;
    /* The policy, for the guidelines in the report and the exercise's clock: --policy, else
     * REGION/policy.yaml (without --region, none: as when that file does not exist). With it,
     * the scenario is checked as validate --policy checks it (the exercise one it lists, every
     * participant one of the exercise's) before anyone is enrolled. */
    char *policy_path = opt->policy   ? fx_strdup(opt->policy)
                        : opt->region ? s_join(opt->region, "policy.yaml")
                                      : NULL;
    if (policy_path && (opt->policy || access(policy_path, R_OK) == 0) &&
        fx_policy_load(policy_path, &r->policy, NULL) != FX_OK)
        fprintf(stderr,
                "%s: exercise run: %s is not a valid policy; the report names rules without "
                "their guidelines\n",
                AGENT_PROG, policy_path);
    fx_diag_t *diag = fx_diag_new(opt->scenario_path);
    fx_err_t rc = fx_scenario_load(opt->scenario_path, r->policy, fx_now_ms(), diag, &r->scenario);
    if (rc != FX_OK) {
        fx_diag_print(diag, stderr, AGENT_PROG ": ");
        fx_diag_destroy(&diag);
        fx_policy_destroy(&r->policy);
        free(policy_path);
        return rc == FX_ERR_IO ? FX_EXIT_SYSTEM : FX_EXIT_USAGE;
    }
    fx_diag_destroy(&diag);
    s_choose_speed(r, policy_path);
    free(policy_path);
    bool made_state = access(opt->state_dir, F_OK) != 0;
    if (fx_mkdir_p(opt->state_dir) != 0) {
        fx_cli_error(AGENT_PROG, "exercise run: --state %s: %s", opt->state_dir, strerror(errno));
        fx_scenario_destroy(&r->scenario);
        return FX_EXIT_SYSTEM;
    }
    r->progress_path = s_join(opt->state_dir, "progress.json");
    r->results_path = s_join(opt->state_dir, "results.json");
    r->report_dir = opt->report_dir ? fx_strdup(opt->report_dir) : s_join(opt->state_dir, "report");
    r->n_actors = fx_scenario_participant_count(r->scenario);
    r->actors = fx_calloc(r->n_actors, sizeof *r->actors);
    for (size_t i = 0; i < r->n_actors; i++)
        r->actors[i].p = fx_scenario_participant(r->scenario, i);

    /* Connected once the run is to wait for the broker (without --region, once it asks the
     * broker's directory who is enrolled): a run refused before (--resume without progress, a
     * live principal to simulate ...) opens no connection, which the broker would see closed
     * before its handshake and count as refused. */
    status =
        agent_session_open_unconnected(&r->trainer, "exercise run", agent_config_path(opt->config),
                                       AGENT_DEFAULT_TIMEOUT_S * 1000);
    if (status != FX_EXIT_OK)
        goto done;
    status = FX_EXIT_SYSTEM;
    snprintf(r->broker_id, sizeof r->broker_id, "%s", fx_cert_id(r->trainer.broker_cert));
    s_check_notices(r);
    if (opt->resume) {
        json_error_t err;
        json_t *doc = json_load_file(r->progress_path, 0, &err);
        if (!doc) {
            fx_cli_error(AGENT_PROG, "exercise run: --resume: %s: %s", r->progress_path, err.text);
            status = access(r->progress_path, F_OK) == 0 ? FX_EXIT_SYSTEM : FX_EXIT_USAGE;
            goto done;
        }
        if (s_resume_check(r, doc) != 0) {
            json_decref(doc);
            status = FX_EXIT_USAGE;
            goto done;
        }
        r->doc = doc;
    }
    size_t enrolled = 0, bundled = 0;
    int enrol = s_enrol_simulated(r, &enrolled, &bundled);
    if (enrol != FX_EXIT_OK) {
        status = enrol;
        goto done;
    }
    if (s_load_trainees(r) != 0)
        goto done;
    if (enrolled)
        fprintf(stderr, "%s: exercise run: enrolled %zu simulated participant(s) in %s\n",
                AGENT_PROG, enrolled, opt->region);
    if (bundled) /* without --region: the authority's machine enrols them */
        fprintf(stderr,
                "%s: exercise run: %zu simulated participant(s) to enrol: carry %s/" BUNDLE_DIR
                " (their enrolment requests and " BUNDLE_SCRIPT
                ", no secret key) to the authority's machine and run 'sh " BUNDLE_SCRIPT
                " REGION' there; copy REGION/directory/*.cert and REGION/revocations.crl to the "
                "broker's copy of the region (operator's guide, section 4) and reload the broker "
                "(systemctl reload fusion-broker, or kill -HUP its process); the run waits for "
                "that\n",
                AGENT_PROG, bundled, opt->state_dir);
    fx_err_t connected = agent_session_connect(&r->trainer);
    if (connected != FX_OK) {
        status = fx_err_exit(connected);
        goto done;
    }
    int admitted = s_wait_admitted(r);
    if (admitted == ADMIT_STOPPED || admitted == ADMIT_TIMED_OUT) {
        /* Stopped, or given up, before the first inject: the progress of a run that has not
         * started (or, on --resume, as it was), so that --resume continues from here. */
        if (!r->doc)
            r->doc = s_new_doc(r);
        if (s_save_to(r, r->progress_path) == 0)
            fprintf(stderr,
                    "%s: exercise run: %s while waiting for the broker to admit the simulated "
                    "participants; progress saved in %s (continue with --resume%s)\n",
                    AGENT_PROG, admitted == ADMIT_STOPPED ? "stopped" : "gave up", r->progress_path,
                    admitted == ADMIT_STOPPED ? "" : " once the broker is reloaded");
    }
    if (admitted != ADMITTED) {
        status = FX_EXIT_UNAVAILABLE;
        goto done;
    }
    if (s_connect(r) != 0)
        goto done;
    if (!r->doc)
        r->doc = s_new_doc(r);
    /* Scenario time continues where it stopped: time spent stopped does not count. */
    int64_t elapsed = json_integer_value(json_object_get(r->doc, "elapsed_ms"));
    r->start_real = fx_now_ms() - elapsed / r->speed;
    r->resumed_real = fx_now_ms();
    r->resumed_ms = elapsed;
    /* What earlier runs of the exercise left is not this run's (nor, for a run stopped before
     * it started, what came before its resumption). */
    if (!json_is_object(json_object_get(r->doc, "audit")))
        s_poll_audit(r, 1, 1);
    size_t next = 0;
    while (next < fx_scenario_inject_count(r->scenario) &&
           strcmp(json_string_value(json_object_get(s_inject_json(r, next), "status")),
                  "pending") != 0)
        next++;
    fprintf(stderr, "%s: exercise %s: %s; %zu inject(s) at speed %d%s\n", AGENT_PROG,
            fx_scenario_exercise(r->scenario), fx_scenario_title(r->scenario),
            fx_scenario_inject_count(r->scenario), r->speed, opt->resume ? " (resumed)" : "");
    if (s_save(r) != 0)
        goto done;
    while (!fx_client_interrupted()) {
        int changed = 0;
        while (next < fx_scenario_inject_count(r->scenario) &&
               fx_scenario_inject(r->scenario, next)->at_ms <= s_now(r)) {
            s_run_inject(r, next++);
            changed = 1;
        }
        s_run_actions(r);
        int listening = 0;
        for (size_t i = 0; i < r->n_actors; i++)
            if (r->actors[i].client) {
                changed |= s_receive(r, &r->actors[i], TICK_MS / (int) r->n_actors + 1) > 0;
                listening = 1;
            }
        if (!listening)
            zclock_sleep(TICK_MS); /* only trainees: nothing to receive */
        changed |= s_poll_audit(r, 0, 0) > 0;
        s_evaluate(r, s_now(r), 0);
        if (changed && s_save(r) != 0)
            goto done;
        s_progress(r, next, 0);
        if (next == fx_scenario_inject_count(r->scenario) && s_now(r) >= s_end_ms(r) &&
            json_array_size(json_object_get(r->doc, "actions")) == 0)
            break;
    }
    if (fx_client_interrupted()) {
        s_save(r);
        fprintf(stderr,
                "%s%s: exercise run: stopped at scenario time %lld s; progress saved in %s "
                "(continue with --resume)\n",
                r->tty ? "\n" : "", AGENT_PROG, (long long) (s_now(r) / 1000), r->progress_path);
        status = FX_EXIT_UNAVAILABLE;
        goto done;
    }
    for (size_t i = 0; i < r->n_actors; i++)
        if (r->actors[i].client)
            s_receive(r, &r->actors[i], 0);
    s_poll_audit(r, 1, 0);
    s_evaluate(r, s_now(r), 1);
    s_progress(r, next, 1);
    if (r->tty)
        fputc('\n', stderr);
    char now[FX_TIME_BUFSIZE];
    fx_time_format(fx_now_ms(), now);
    json_object_set_new(r->doc, "finished_at", json_string(now));
    json_object_set_new(r->doc, "complete", json_true());
    if (s_save(r) != 0 || s_save_to(r, r->results_path) != 0)
        goto done;
    if (exercise_report_write(r->doc, r->report_dir) != 0)
        goto done;
    /* As designed: every expectation met, or missed where the scenario said so. */
    size_t off = 0, i;
    json_t *x;
    json_array_foreach(json_object_get(r->doc, "expectations"), i, x)
    {
        const char *o = json_string_value(json_object_get(x, "outcome"));
        int designed = json_is_true(json_object_get(x, "designed_to_fail"));
        off += designed ? strcmp(o, "missed_as_designed") != 0 : strcmp(o, "met") != 0;
    }
    printf("results: %s\nreport: %s/report.html, %s/report.md, %s/report.json\n", r->results_path,
           r->report_dir, r->report_dir, r->report_dir);
    printf("%zu expectation(s) did not come out as designed\n", off);
    status = off ? FX_EXIT_NO : FX_EXIT_OK;
done:
    if (made_state && status != FX_EXIT_OK) {
        /* A run refused before it wrote anything leaves no state directory behind (the default
         * one is in the working directory); rmdir removes only what is empty. */
        char *keydir = s_join(opt->state_dir, "keys");
        (void) rmdir(keydir);
        free(keydir);
        (void) rmdir(opt->state_dir);
    }
    s_free_run(r);
    return status;
}
