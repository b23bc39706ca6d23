/*
 * Run-time loading of a PKCS#11 module.
 *
 * The wheel links to no Cryptoki module: users name one at run time. dlopen() on POSIX, LoadLibraryW() on Windows
 * (paths arrive as UTF-8 and are widened so non-ASCII paths work). Errors are copied into a caller buffer so Python
 * can name both the path and the loader's own message.
 */
#include <stddef.h>
#include <string.h>
#include <stdio.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

static void p11_copy_error(char *err, size_t errlen, const char *msg)
{
    if (err == NULL || errlen == 0) return;
    if (msg == NULL) msg = "unknown loader error";
    strncpy(err, msg, errlen - 1);
    err[errlen - 1] = '\0';
}

static void *p11_module_open(const char *path, char *err, size_t errlen)
{
#ifdef _WIN32
    wchar_t wpath[32768];
    void *handle;
    if (MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 32768) == 0) {
        p11_copy_error(err, errlen, "path is not valid UTF-8 or is too long");
        return NULL;
    }
    handle = (void *)LoadLibraryW(wpath);
    if (handle == NULL) {
        char msg[512];
        DWORD code = GetLastError();
        if (FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, msg,
                           (DWORD)sizeof msg, NULL) == 0)
            snprintf(msg, sizeof msg, "LoadLibraryW failed with error %lu", (unsigned long)code);
        p11_copy_error(err, errlen, msg);
    }
    return handle;
#else
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) p11_copy_error(err, errlen, dlerror());
    return handle;
#endif
}

static void *p11_module_symbol(void *handle, const char *name)
{
#ifdef _WIN32
    return (void *)GetProcAddress((HMODULE)handle, name);
#else
    return dlsym(handle, name);
#endif
}

static int p11_module_close(void *handle)
{
#ifdef _WIN32
    return FreeLibrary((HMODULE)handle) ? 0 : -1;
#else
    return dlclose(handle);
#endif
}
