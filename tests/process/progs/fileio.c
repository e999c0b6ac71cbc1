/* File I/O inside the directory argv[1] (created empty by the caller): open/write/read/lseek/pread/pwrite,
 * O_APPEND, ftruncate, stat/fstat/lstat, rename, link/symlink/readlink, unlink, mkdir/rmdir, opendir+readdir
 * (names sorted before printing: the order of getdents is the filesystem's), stdio fopen/fprintf/fgets/fseek/ftell,
 * dup2, and the errno messages of calls that must fail. Only names relative to argv[1] are printed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(const char *what) {
    printf("%s failed: %s\n", what, strerror(errno));
    exit(2);
}

static void expect_error(const char *what, int ret) {
    int e = errno;
    printf("%s -> %d (%s)\n", what, ret, ret < 0 ? strerror(e) : "no error");
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_dir(const char *label) {
    DIR *d = opendir(".");
    if (!d) fail("opendir");
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    printf("%s:", label);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (lstat(names[i], &st)) fail("lstat");
        char kind = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : S_ISREG(st.st_mode) ? 'f' : '?';
        if (strcmp(names[i], ".") && strcmp(names[i], ".."))
            printf(" %s(%c %lld %o)", names[i], kind, kind == 'd' ? 0LL : (long long)st.st_size, st.st_mode & 07777);
        else
            printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 64; }
    umask(022);
    if (chdir(argv[1])) fail("chdir");

    int fd = open("data.bin", O_CREAT | O_EXCL | O_RDWR, 0640);
    if (fd < 0) fail("open");
    char block[4096];
    for (int i = 0; i < 10; i++) {
        memset(block, 'a' + i, sizeof block);
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) fail("write");
    }
    long end = (long)lseek(fd, 0, SEEK_END);
    long cur = (long)lseek(fd, -5000, SEEK_CUR);
    char got[8] = {0};
    ssize_t nread = read(fd, got, 6);
    printf("lseek end=%ld cur=%ld; read %zd bytes: %.6s\n", end, cur, nread, got);
    if (pwrite(fd, "HELLO", 5, 8190) != 5) fail("pwrite");
    memset(got, 0, sizeof got);
    nread = pread(fd, got, 7, 8189);
    printf("pread %zd bytes: %.7s\n", nread, got);
    long pos = (long)lseek(fd, 100000, SEEK_SET);
    ssize_t nwritten = write(fd, "!", 1);
    printf("hole: lseek to 100000 = %ld, write %zd\n", pos, nwritten);
    struct stat st;
    fstat(fd, &st);
    printf("fstat size=%lld mode=%o regular=%d\n", (long long)st.st_size, st.st_mode & 0777, S_ISREG(st.st_mode));
    memset(got, 1, sizeof got);
    lseek(fd, 50000, SEEK_SET);
    nread = read(fd, got, 3);
    printf("hole reads %zd bytes: %d %d %d\n", nread, got[0], got[1], got[2]);
    if (ftruncate(fd, 12345)) fail("ftruncate");
    fstat(fd, &st);
    printf("after ftruncate size=%lld\n", (long long)st.st_size);
    close(fd);

    fd = open("log.txt", O_CREAT | O_WRONLY | O_TRUNC, 0600);
    write(fd, "first\n", 6);
    close(fd);
    fd = open("log.txt", O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    write(fd, "second\n", 7);
    close(fd);

    FILE *f = fopen("notes.txt", "w+");
    if (!f) fail("fopen");
    for (int i = 1; i <= 5; i++) fprintf(f, "line %d: %d squared is %d\n", i, i, i * i);
    printf("ftell after writing: %ld\n", ftell(f));
    fseek(f, 0, SEEK_SET);
    char line[100];
    int lines = 0;
    while (fgets(line, sizeof line, f)) if (++lines == 3) printf("third line: %s", line);
    fclose(f);
    f = fopen("log.txt", "a+");
    fputs("third\n", f);
    rewind(f);
    printf("log.txt:");
    while (fgets(line, sizeof line, f)) printf(" %.*s", (int)strcspn(line, "\n"), line);
    printf("\n");
    fclose(f);

    if (mkdir("sub", 0755)) fail("mkdir");
    if (mkdir("sub/deeper", 0700)) fail("mkdir deeper");
    if (rename("notes.txt", "sub/notes-moved.txt")) fail("rename");
    if (link("log.txt", "log-hardlink.txt")) fail("link");
    if (symlink("sub/notes-moved.txt", "notes-link")) fail("symlink");
    char target[100];
    ssize_t tl = readlink("notes-link", target, sizeof target - 1);
    target[tl > 0 ? tl : 0] = 0;
    stat("log.txt", &st);
    printf("readlink -> %s; log.txt nlink=%ld\n", target, (long)st.st_nlink);
    f = fopen("notes-link", "r");
    printf("through the symlink: %s", fgets(line, sizeof line, f));
    fclose(f);
    list_dir("after creating");

    /* dup2: stdout into a file and back. */
    fflush(stdout);
    int saved = dup(1);
    fd = open("captured.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    printf("this line goes to captured.txt\n");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    f = fopen("captured.txt", "r");
    printf("captured: %s", fgets(line, sizeof line, f));
    fclose(f);

    errno = 0;
    expect_error("open missing", open("no/such/file", O_RDONLY));
    expect_error("open excl existing", open("log.txt", O_CREAT | O_EXCL | O_WRONLY, 0644));
    expect_error("mkdir existing", mkdir("sub", 0755));
    expect_error("rmdir non-empty", rmdir("sub"));
    expect_error("unlink a directory", unlink("sub"));
    expect_error("chdir into a file", chdir("log.txt"));
    expect_error("read a directory", (int)read(open("sub", O_RDONLY), line, 10));
    expect_error("close bad fd", close(987));
    expect_error("rename missing", rename("missing", "other"));
    expect_error("readlink of a file", (int)readlink("log.txt", target, sizeof target));
    FILE *nf = fopen("sub/deeper/x/y", "r");
    printf("fopen missing -> %s (%s)\n", nf ? "FILE" : "NULL", strerror(errno));

    if (unlink("sub/notes-moved.txt") || rmdir("sub/deeper") || rmdir("sub")) fail("cleanup sub");
    if (unlink("notes-link") || unlink("log-hardlink.txt") || unlink("captured.txt")) fail("cleanup links");
    list_dir("after removing");
    unlink("log.txt");
    unlink("data.bin");
    list_dir("empty");
    return 0;
}
