/** The results panel's page script. Placeholder until the panel lands (issue #8). */
const root = document.getElementById('root');
if (root) root.textContent = 'No run loaded yet.';
