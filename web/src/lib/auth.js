// The access token. crawlhub prints http://host:port/?token=TOKEN at start;
// the dashboard keeps the token in localStorage and takes it out of the
// address bar so it does not linger in history, bookmarks or screenshots.

export const TOKEN_KEY = 'crawlhub.token';

/**
 * Move a ?token= query parameter into storage and remove it from the address
 * bar without adding a history entry. An empty ?token= is removed too.
 * Returns whether the URL carried one.
 */
export function captureTokenFromURL(location = window.location, history = window.history) {
  const url = new URL(location.href);
  if (!url.searchParams.has('token')) return false;
  const token = url.searchParams.get('token').trim();
  url.searchParams.delete('token');
  if (token) saveToken(token);
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return true;
}

/** The stored token, or '' when there is none (or storage is unavailable). */
export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing stored that could be removed.
  }
}

/**
 * What a person pasted into the token form: the token itself or the whole
 * login URL crawlhub printed. Returns the token.
 */
export function tokenFromInput(text) {
  const value = text.trim();
  const match = /[?&]token=([^&#\s]+)/.exec(value);
  if (!match) return value;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}
