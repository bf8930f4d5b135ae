import { createApp } from 'vue';
import AdminApp from './admin/AdminApp.vue';
import App from './App.vue';
import './styles/main.css';

// The ops console is a view of the same build, at /admin (the gateway serves index.html there).
createApp(window.location.pathname.replace(/\/+$/, '') === '/admin' ? AdminApp : App).mount('#app');
