// Herald — small helpers shared by the built-in pages: fill in this server's origin in code
// snippets, and copy buttons.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  for (const el of document.querySelectorAll('[data-origin]')) {
    el.textContent = location.origin;
  }
  for (const btn of document.querySelectorAll('button[data-copy]')) {
    btn.addEventListener('click', async () => {
      const src = document.getElementById(btn.dataset.copy);
      const text = src.textContent.split('\n').filter(l => !/^\s*(#|\/\/)/.test(l)).join('\n').trim();
      try {
        await navigator.clipboard.writeText(text);
        btn.textContent = 'Copied';
      } catch {
        btn.textContent = 'Copy failed';
      }
      setTimeout(() => { btn.textContent = 'Copy'; }, 1500);
    });
  }
});
