#ifndef BATCHD_CCURL_SHIM_H
#define BATCHD_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed,
// prefixed wrapper per argument kind.
static inline CURLcode CCurl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode CCurl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode CCurl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode CCurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*CCurl_data_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode CCurl_setopt_data_callback(CURL *handle, CURLoption option, CCurl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}
typedef int (*CCurl_progress_callback)(void *context, curl_off_t download_total, curl_off_t download_now,
                                       curl_off_t upload_total, curl_off_t upload_now);
static inline CURLcode CCurl_setopt_progress_callback(CURL *handle, CCurl_progress_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}
static inline CURLcode CCurl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLMcode CCurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}
// CURLMsg keeps its result in an anonymous union, which Swift does not see into.
static inline int CCurl_msg_is_done(const CURLMsg *message) {
    return message->msg == CURLMSG_DONE;
}
static inline CURLcode CCurl_msg_result(const CURLMsg *message) {
    return message->data.result;
}
// Whether curl_global_init may run while other threads exist (curl 7.84 and later, when
// built thread-safe): then it can wait until the first transfer.
static inline int CCurl_global_init_is_thread_safe(void) {
#ifdef CURL_VERSION_THREADSAFE
    return (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_THREADSAFE) != 0;
#else
    return 0;
#endif
}
static inline CURLcode CCurl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_ALL);
}
#endif
