/** Worker entry: the Edgeway gateway app and its Durable Object classes. */
import { app } from './app/index.js';

export default app;
