// Vite `?url` imports (the worker realm does not load vite/client's DOM-flavoured types).
declare module '*?url' {
  const url: string;
  export default url;
}
