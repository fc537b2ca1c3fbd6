// Window size and theme switch (a Streamlit v2 component, see ui/screen.py). Draws nothing.
//
// Size: Python cannot see the browser window, and presentation mode fits the heatmap and the
// 3D view to it; only then (data.wanted) the size is sent, when it differs by more than 40 px
// from what Python assumes (data.known), and again after such a resize: no extra reruns.
// Theme: Streamlit keeps the chosen theme in localStorage (the key its Settings menu
// writes: "stActiveTheme-<path>-v2", value "Light" / "Dark") and reads it at page load;
// a switch writes it and reloads the page (the URL holds the whole view).

const THEME_VALUES = { light: "Light", dark: "Dark" };

function sendSize(component) {
  const { data, setStateValue } = component;
  const w = window.innerWidth;
  const h = window.innerHeight;
  const known = data.known || {};
  if (!data.wanted) return;
  if (Math.abs((known.w || 0) - w) > 40 || Math.abs((known.h || 0) - h) > 40) {
    setStateValue("size", { w, h });
  }
}

function switchTheme(theme) {
  const value = THEME_VALUES[theme];
  if (!value) return;
  const key = `stActiveTheme-${window.location.pathname}-v2`;
  // One reload per request: if Streamlit ignored the stored theme, do not loop.
  const marker = `interplm-theme-${theme}`;
  if (window.sessionStorage.getItem(marker) === window.location.href) return;
  window.sessionStorage.setItem(marker, window.location.href);
  window.localStorage.setItem(key, JSON.stringify(value));
  window.location.reload();
}

export default function (component) {
  const { data } = component;
  if (data.theme) switchTheme(data.theme);
  else {
    window.sessionStorage.removeItem("interplm-theme-light");
    window.sessionStorage.removeItem("interplm-theme-dark");
  }
  sendSize(component);
  let timer = null;
  const onResize = () => {
    clearTimeout(timer);
    timer = setTimeout(() => sendSize(component), 300);
  };
  window.addEventListener("resize", onResize);
  return () => {
    clearTimeout(timer);
    window.removeEventListener("resize", onResize);
  };
}
