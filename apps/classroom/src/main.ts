import { createApp } from 'vue';
import AdminApp from './admin/AdminApp.vue';
import App from './App.vue';
import ReportApp from './report/ReportApp.vue';
import './styles/main.css';

// The ops console (/admin) and the class report (/report) are views of the same build (the gateway
// serves index.html at every path without a file).
const VIEWS = { '/admin': AdminApp, '/report': ReportApp } as const;
const path = window.location.pathname.replace(/\/+$/, '');
createApp(Object.hasOwn(VIEWS, path) ? VIEWS[path as keyof typeof VIEWS] : App).mount('#app');
