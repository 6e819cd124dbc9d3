#include "CCurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *handle);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *handle);
    CURLMcode (*multi_perform)(CURLM *multi, int *running);
    CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd extra[], unsigned int count, int timeout_ms, int *ready);
    CURLMcode (*multi_wakeup)(CURLM *multi);
    CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static char load_error[512] = "libcurl was not loaded";

#define BIND(field, symbol)                                                                      \
    if (!(*(void **)&curl.field = dlsym(library, symbol))) {                                    \
        snprintf(load_error, sizeof load_error, "libcurl.so.4 has no %s (libcurl too old?)", symbol); \
        return;                                                                                 \
    }

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl (install libcurl4): %s", dlerror());
        return;
    }
    BIND(global_init, "curl_global_init")
    BIND(easy_init, "curl_easy_init")
    BIND(easy_cleanup, "curl_easy_cleanup")
    BIND(easy_strerror, "curl_easy_strerror")
    BIND(easy_setopt, "curl_easy_setopt")
    BIND(easy_getinfo, "curl_easy_getinfo")
    BIND(slist_append, "curl_slist_append")
    BIND(slist_free_all, "curl_slist_free_all")
    BIND(multi_init, "curl_multi_init")
    BIND(multi_add_handle, "curl_multi_add_handle")
    BIND(multi_remove_handle, "curl_multi_remove_handle")
    BIND(multi_perform, "curl_multi_perform")
    BIND(multi_poll, "curl_multi_poll")
    BIND(multi_wakeup, "curl_multi_wakeup")
    BIND(multi_info_read, "curl_multi_info_read")
    loaded = 1;
}

int CCurl_load(void) {
    pthread_once(&load_once, load);
    return loaded ? 0 : -1;
}

const char *CCurl_load_error(void) {
    return loaded ? NULL : load_error;
}

CURLcode CCurl_global_init(void) {
    return CCurl_load() ? CURLE_FAILED_INIT : curl.global_init(CURL_GLOBAL_ALL);
}

CURL *CCurl_easy_init(void) { return CCurl_load() ? NULL : curl.easy_init(); }
void CCurl_easy_cleanup(CURL *handle) { if (handle) curl.easy_cleanup(handle); }
const char *CCurl_easy_strerror(CURLcode code) { return loaded ? curl.easy_strerror(code) : load_error; }

CURLcode CCurl_setopt_long(CURL *handle, CURLoption option, long value) { return curl.easy_setopt(handle, option, value); }
CURLcode CCurl_setopt_string(CURL *handle, CURLoption option, const char *value) { return curl.easy_setopt(handle, option, value); }
CURLcode CCurl_setopt_pointer(CURL *handle, CURLoption option, void *value) { return curl.easy_setopt(handle, option, value); }
CURLcode CCurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) { return curl.easy_setopt(handle, option, value); }
CURLcode CCurl_setopt_data_callback(CURL *handle, CURLoption option, CCurl_data_callback callback) {
    return curl.easy_setopt(handle, option, callback);
}
CURLcode CCurl_setopt_progress_callback(CURL *handle, CCurl_progress_callback callback) {
    return curl.easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}
CURLcode CCurl_getinfo_long(CURL *handle, CURLINFO info, long *value) { return curl.easy_getinfo(handle, info, value); }

struct curl_slist *CCurl_slist_append(struct curl_slist *list, const char *text) {
    return CCurl_load() ? NULL : curl.slist_append(list, text);
}
void CCurl_slist_free_all(struct curl_slist *list) { if (list) curl.slist_free_all(list); }

CURLM *CCurl_multi_init(void) { return CCurl_load() ? NULL : curl.multi_init(); }
CURLMcode CCurl_multi_add_handle(CURLM *multi, CURL *handle) { return curl.multi_add_handle(multi, handle); }
CURLMcode CCurl_multi_remove_handle(CURLM *multi, CURL *handle) { return curl.multi_remove_handle(multi, handle); }
CURLMcode CCurl_multi_perform(CURLM *multi, int *running) { return curl.multi_perform(multi, running); }
CURLMcode CCurl_multi_poll(CURLM *multi, int timeout_ms) { return curl.multi_poll(multi, NULL, 0, timeout_ms, NULL); }
CURLMcode CCurl_multi_wakeup(CURLM *multi) { return curl.multi_wakeup(multi); }
CURLMsg *CCurl_multi_info_read(CURLM *multi, int *left) { return curl.multi_info_read(multi, left); }

int CCurl_msg_is_done(const CURLMsg *message) { return message->msg == CURLMSG_DONE; }
CURLcode CCurl_msg_result(const CURLMsg *message) { return message->data.result; }
