#ifndef BATCHD_CCURL_H
#define BATCHD_CCURL_H
// libcurl, loaded with dlopen on the first HTTP transfer rather than linked: libcurl pulls in
// some thirty libraries (TLS, Kerberos, LDAP, SSH...), 5.7 MB of resident pages measured here,
// that a daemon running only commands never uses. Only curl's header is needed to build.
//
// Every CCurl_ function calls the libcurl function of the same name; curl_easy_setopt and
// curl_easy_getinfo are variadic, which Swift cannot call, so they have one typed wrapper per
// argument kind.
#include <curl/curl.h>

/// Loads libcurl.so.4 once (thread-safe). 0 on success; otherwise CCurl_load_error() says why,
/// and every other CCurl_ function fails (NULL handles, error codes) without calling anything.
int CCurl_load(void);
const char *CCurl_load_error(void);

/// curl_global_init(CURL_GLOBAL_ALL), after loading; CURLE_FAILED_INIT when libcurl cannot load.
CURLcode CCurl_global_init(void);

CURL *CCurl_easy_init(void);
void CCurl_easy_cleanup(CURL *handle);
const char *CCurl_easy_strerror(CURLcode code);
CURLcode CCurl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CCurl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CCurl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CCurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
typedef size_t (*CCurl_data_callback)(char *data, size_t size, size_t count, void *context);
CURLcode CCurl_setopt_data_callback(CURL *handle, CURLoption option, CCurl_data_callback callback);
typedef int (*CCurl_progress_callback)(void *context, curl_off_t download_total, curl_off_t download_now,
                                       curl_off_t upload_total, curl_off_t upload_now);
CURLcode CCurl_setopt_progress_callback(CURL *handle, CCurl_progress_callback callback);
CURLcode CCurl_getinfo_long(CURL *handle, CURLINFO info, long *value);

struct curl_slist *CCurl_slist_append(struct curl_slist *list, const char *text);
void CCurl_slist_free_all(struct curl_slist *list);

CURLM *CCurl_multi_init(void);
CURLMcode CCurl_multi_add_handle(CURLM *multi, CURL *handle);
CURLMcode CCurl_multi_remove_handle(CURLM *multi, CURL *handle);
CURLMcode CCurl_multi_perform(CURLM *multi, int *running);
CURLMcode CCurl_multi_poll(CURLM *multi, int timeout_ms);
CURLMcode CCurl_multi_wakeup(CURLM *multi);
CURLMsg *CCurl_multi_info_read(CURLM *multi, int *left);

// CURLMsg keeps its result in an anonymous union, which Swift does not see into.
int CCurl_msg_is_done(const CURLMsg *message);
CURLcode CCurl_msg_result(const CURLMsg *message);
#endif
